# latscope — top-level build. Everything generated goes under build/.
#   make          build build/latscope (installing missing Debian packages first, as make deps)
#   make deps     install the Debian packages in deps/packages.txt that are missing
#   make test     deps + build + every test (tests/run.sh)
#   make demo     deps + build + latscope against the example server under load
#   make bench    deps + build + benchmarks (results in BENCHMARKS.md)
#   make fuzz     deps + every fuzz target for FUZZ_SECS (default 300) seconds each
#   make install  the binary, latscope(8) and the systemd unit (PREFIX, DESTDIR: deploy/build.mk)
#   make soak     deps + build + 30 minutes of steady load under trace (table in build/soak.md), 500 Go attach/detach cycles
#   make V=1      show the commands

BUILD    := build
CC       ?= gcc
CLANG    ?= clang
BPFTOOL  ?= bpftool
ARCH     := x86

Q := @
ifeq ($(V),1)
Q :=
endif

# A fresh machine: install the Debian packages (as 'make deps' does) before anything below asks
# pkg-config or runs clang and bpftool. One dpkg query when everything is there.
ifeq ($(filter deps clean,$(MAKECMDGOALS)),)
ifneq ($(shell scripts/deps.sh --check && echo ok),ok)
$(info latscope: Debian packages missing: installing them first (scripts/deps.sh, as 'make deps' does))
ifneq ($(shell scripts/deps.sh >&2 && echo ok),ok)
$(error latscope: installing the build dependencies failed: run 'make deps' as root and read its log)
endif
endif
endif

WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
CFLAGS   += $(WARN) -std=gnu11 -fno-omit-frame-pointer -D_GNU_SOURCE
CPPFLAGS += -Ilib -Isymbolizer -Ibpf -I$(BUILD)
LDLIBS   += -lbpf -lelf -ldw -lz -lnghttp2 -lcapstone -lncursesw -lcurl -lpthread -lm -lstdc++

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(BUILD)/bpf/%.bpf.o,$(BPF_SRCS))
BPF_SKELS := $(patsubst bpf/%.bpf.c,$(BUILD)/%.skel.h,$(BPF_SRCS))

LIB_SRCS  := $(wildcard lib/*.c)
LIB_OBJS  := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRCS))
SYM_SRCS  := $(wildcard symbolizer/*.c)
SYM_OBJS  := $(patsubst %.c,$(BUILD)/%.o,$(SYM_SRCS))
CLI_SRCS  := $(wildcard cli/*.c)
CLI_OBJS  := $(patsubst %.c,$(BUILD)/%.o,$(CLI_SRCS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

LIBLS  := $(BUILD)/liblatscope.a
LIBSYM := $(BUILD)/libsymbolizer.a

# Fragments add to these.
EXAMPLES  :=
TEST_BINS :=
FUZZ_BINS :=

.PHONY: all deps test demo bench fuzz soak clean
.SECONDARY:
all: $(BUILD)/latscope

include $(wildcard examples/*/build.mk tests/*/build.mk bench/build.mk deploy/build.mk)

all: $(EXAMPLES) $(TEST_BINS) $(UNIT_BINS)

$(BUILD)/vmlinux.h:
	$(Q)mkdir -p $(@D)
	@echo "  BTF     $@"
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c bpf/*.h $(BUILD)/vmlinux.h
	$(Q)mkdir -p $(@D)
	@echo "  BPF     $@"
	$(Q)$(CLANG) -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror -Ibpf -I$(BUILD) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/bpf/%.bpf.o
	@echo "  SKEL    $@"
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@

$(BUILD)/%.o: %.c $(BPF_SKELS)
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBLS): $(LIB_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBSYM): $(SYM_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/latscope: $(CLI_OBJS) $(LIBLS) $(LIBSYM)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) -o $@ $(CLI_OBJS) $(LIBLS) $(LIBSYM) $(LDLIBS)

# A test that needs objects of its own lists them as prerequisites (tests/unit/build.mk).
$(BUILD)/tests/%: tests/unit/%.c $(LIBLS) $(LIBSYM)
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(filter %.o,$^) $(LIBLS) $(LIBSYM) $(LDLIBS)

-include $(LIB_OBJS:.o=.d) $(SYM_OBJS:.o=.d) $(CLI_OBJS:.o=.d)

deps:
	$(Q)scripts/deps.sh

test: deps
	$(Q)$(MAKE) --no-print-directory all $(FUZZ_BINS)
	$(Q)tests/run.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bench/run.sh

# The fuzz scripts of make test (12-40 s each there), FUZZ_SECS seconds each.
fuzz: deps
	$(Q)$(MAKE) --no-print-directory all $(FUZZ_BINS)
	$(Q)FUZZ_SECS=$(or $(FUZZ_SECS),300) tests/run.sh '^e2e/fuzz_'

# tests/e2e/soak.sh for SOAK_SECS (default 1800), a row every minute; make test runs it for 45 s.
# Then 500 attach/detach cycles on the Go gRPC server (make test runs 60).
soak: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)SOAK_SECS=$(or $(SOAK_SECS),1800) SOAK_SAMPLE=60 SOAK_TABLE=$(BUILD)/soak.md tests/e2e/soak.sh
	$(Q)GO_CYCLES=$(or $(GO_CYCLES),500) GO_CYCLES_BUDGET=1200 tests/e2e/go_grpc_cycles.sh

clean:
	rm -rf $(BUILD)
