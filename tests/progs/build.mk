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

# folded -> SVG through record's own writer (tests/e2e/record_svg.sh).
$(BUILD)/progs/folded2svg: tests/progs/folded2svg.c $(BUILD)/cli/profile.o $(LIBLS) $(LIBSYM)
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) -Icli $(CFLAGS) -o $@ $< $(BUILD)/cli/profile.o $(LIBLS) $(LIBSYM) $(LDLIBS)

TEST_BINS += $(BUILD)/progs/folded2svg
