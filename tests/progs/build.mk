# Small target programs for the profiler tests (frame pointers on, as the tests compare stacks).
PROG_CFLAGS := -O2 -g -fno-omit-frame-pointer -fno-inline-functions-called-once -Wall -Wextra -Werror

$(BUILD)/progs/%: tests/progs/%.c
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(PROG_CFLAGS) -o $@ $< -lpthread

TEST_BINS += $(BUILD)/progs/cpusplit $(BUILD)/progs/sleeper

# A Go net/http h2 server, built offline with Debian's Go (standard library only).
$(BUILD)/progs/gohttp2: tests/progs/gohttp2/main.go
	$(Q)mkdir -p $(@D) $(BUILD)/go-cache
	@echo "  GO      $@"
	$(Q)GO111MODULE=off GOFLAGS= GOPROXY=off GOPATH=$(abspath $(BUILD))/gopath GOCACHE=$(abspath $(BUILD))/go-cache \
		go build -o $@ ./tests/progs/gohttp2

TEST_BINS += $(BUILD)/progs/gohttp2

# TLS callers for the placement tests: a direct call, a function pointer, and a caller whose return span is a branch target.
$(BUILD)/progs/tlscalls: tests/progs/tlscalls.c tests/progs/tlscalls_asm.S
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(PROG_CFLAGS) -o $@ $^ -lssl -lcrypto -lpthread

TEST_BINS += $(BUILD)/progs/tlscalls
