# Small target programs for the profiler tests (frame pointers on, as the tests compare stacks).
PROG_CFLAGS := -O2 -g -fno-omit-frame-pointer -fno-inline-functions-called-once -Wall -Wextra -Werror

# Each program names the libraries it needs in PROG_LIBS (target-specific).
PROG_LIBS = -lpthread

$(BUILD)/progs/%: tests/progs/%.c $(wildcard tests/progs/*.h)
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(PROG_CFLAGS) -o $@ $< $(PROG_LIBS)

TEST_BINS += $(BUILD)/progs/cpusplit $(BUILD)/progs/sleeper

# The issue's own build of the leaf case: -O1, where gcc gives a leaf that needs no stack no frame.
$(BUILD)/progs/leafsplit: PROG_CFLAGS := -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror

TEST_BINS += $(BUILD)/progs/leafsplit

# Calls through the PLT in a hot loop: -fno-builtin keeps labs() a call.
$(BUILD)/progs/pltsplit: PROG_CFLAGS := -O2 -g -fno-omit-frame-pointer -fno-builtin -Wall -Wextra -Werror

TEST_BINS += $(BUILD)/progs/pltsplit

# A Go net/http h2 server, built offline with Debian's Go (standard library only).
$(BUILD)/progs/gohttp2: tests/progs/gohttp2/main.go
	$(Q)mkdir -p $(@D) $(BUILD)/go-cache
	@echo "  GO      $@"
	$(Q)GO111MODULE=off GOFLAGS= GOPROXY=off GOPATH=$(abspath $(BUILD))/gopath GOCACHE=$(abspath $(BUILD))/go-cache \
		go build -o $@ ./tests/progs/gohttp2

TEST_BINS += $(BUILD)/progs/gohttp2

# A generated -O2 -g program with many functions and deep chains of inlined calls (symbolizer test and benchmark).
INLINES_UNITS := 8
INLINES_SRC   := $(BUILD)/progs/inlines-src
INLINES_OBJS  := $(patsubst %,$(INLINES_SRC)/unit%.o,$(shell seq 0 $$(($(INLINES_UNITS) - 1)))) $(INLINES_SRC)/main.o

$(INLINES_SRC)/inl.h: tests/progs/inlines/gen.py
	$(Q)mkdir -p $(@D)
	@echo "  GEN     $(INLINES_SRC)"
	$(Q)python3 $< $(INLINES_SRC) $(INLINES_UNITS) 120

$(INLINES_SRC)/%.c: $(INLINES_SRC)/inl.h
	@:

$(INLINES_SRC)/%.o: $(INLINES_SRC)/%.c $(INLINES_SRC)/inl.h
	@echo "  CC      $@"
	$(Q)$(CC) -O2 -g -Wall -Werror -c -o $@ $<

$(BUILD)/progs/inlines: $(INLINES_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) -o $@ $^

TEST_BINS += $(BUILD)/progs/inlines

# C++: mangled names and inlined templates for the symbolizer test.
$(BUILD)/progs/cxxinline: tests/progs/cxxinline.cc
	$(Q)mkdir -p $(@D)
	@echo "  CXX     $@"
	$(Q)$(CXX) -O2 -g -Wall -Wextra -Werror -o $@ $<

TEST_BINS += $(BUILD)/progs/cxxinline
# TLS callers for the placement tests: a direct call, a function pointer, and a caller whose return span is a branch target.
$(BUILD)/progs/tlscalls: tests/progs/tlscalls.c tests/progs/tlscalls_asm.S
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(PROG_CFLAGS) -o $@ $^ -lssl -lcrypto -lpthread

TEST_BINS += $(BUILD)/progs/tlscalls
# folded -> SVG through record's own writer (tests/e2e/record_svg.sh).
$(BUILD)/progs/folded2svg: tests/progs/folded2svg.c $(BUILD)/cli/profile.o $(LIBLS) $(LIBSYM)
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) -Icli $(CFLAGS) -o $@ $< $(BUILD)/cli/profile.o $(LIBLS) $(LIBSYM) $(LDLIBS)

TEST_BINS += $(BUILD)/progs/folded2svg
# C++ against libprotobuf-lite alone (LITE_RUNTIME messages): the MessageLite probes in
# libprotobuf-lite.so (tests/e2e/proto_lite.sh). protoc writes its code under $(BUILD).
PLITE_SRC := tests/progs/protolite
PLITE_GEN := $(BUILD)/progs/protolite-gen
PLITE_CXXFLAGS := -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -std=c++17 $(shell pkg-config --cflags protobuf-lite)

$(PLITE_GEN)/order.pb.cc: $(PLITE_SRC)/order.proto
	$(Q)mkdir -p $(@D)
	@echo "  PROTOC  $@"
	$(Q)protoc --proto_path=$(PLITE_SRC) --cpp_out=$(PLITE_GEN) $<

$(PLITE_GEN)/order.pb.h: $(PLITE_GEN)/order.pb.cc ;

$(PLITE_GEN)/order.pb.o: $(PLITE_GEN)/order.pb.cc $(PLITE_GEN)/order.pb.h
	@echo "  CXX     $@"
	$(Q)$(CXX) $(PLITE_CXXFLAGS) -Wno-unused-parameter -I$(PLITE_GEN) -c $< -o $@

$(PLITE_GEN)/main.o: $(PLITE_SRC)/main.cc $(PLITE_GEN)/order.pb.h
	@echo "  CXX     $@"
	$(Q)$(CXX) $(PLITE_CXXFLAGS) -I$(PLITE_GEN) -c $< -o $@

$(BUILD)/progs/protolite: $(PLITE_GEN)/main.o $(PLITE_GEN)/order.pb.o
	@echo "  LD      $@"
	$(Q)$(CXX) $(PLITE_CXXFLAGS) -o $@ $^ $(shell pkg-config --libs protobuf-lite) -pthread

TEST_BINS += $(BUILD)/progs/protolite

# Many idle HTTP/2 connections over TLS at once (tests/e2e/many_conns.sh).
$(BUILD)/progs/tlsconns: PROG_LIBS := -lssl -lcrypto

TEST_BINS += $(BUILD)/progs/tlsconns

# Threads by the thousand, each making one probed call (tests/e2e/churn_threads.sh).
$(BUILD)/progs/threadchurn: PROG_LIBS := -lssl -lcrypto -lpthread

TEST_BINS += $(BUILD)/progs/threadchurn

# Loads libssl only when asked, after latscope attached (tests/e2e/churn_dlopen.sh).
$(BUILD)/progs/dlopener: PROG_LIBS := -ldl

TEST_BINS += $(BUILD)/progs/dlopener

# A master that forks a worker after attach (tests/e2e/churn_fork.sh).
$(BUILD)/progs/forker: PROG_LIBS := -lssl -lcrypto

TEST_BINS += $(BUILD)/progs/forker

# A process that exec()s under latscope (tests/e2e/churn_exec.sh).
$(BUILD)/progs/execer: PROG_LIBS := -lssl -lcrypto

TEST_BINS += $(BUILD)/progs/execer
