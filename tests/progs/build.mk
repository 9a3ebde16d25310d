# Small target programs for the profiler tests (frame pointers on, as the tests compare stacks).
PROG_CFLAGS := -O2 -g -fno-omit-frame-pointer -fno-inline-functions-called-once -Wall -Wextra -Werror

$(BUILD)/progs/%: tests/progs/%.c
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(PROG_CFLAGS) -o $@ $< -lpthread

TEST_BINS += $(BUILD)/progs/cpusplit $(BUILD)/progs/sleeper
