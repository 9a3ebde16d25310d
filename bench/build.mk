# Benchmark programs (make bench runs bench/run.sh).
$(BUILD)/bench/floor: bench/floor.c $(LIBLS) $(BUILD)/bench_floor.skel.h
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIBLS) $(LDLIBS)

$(BUILD)/bench/sslloop: bench/sslloop.c
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror -o $@ $< -lssl -lcrypto

$(BUILD)/bench/reqrate: bench/reqrate.c $(LIBLS)
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIBLS) $(LDLIBS)

TEST_BINS += $(BUILD)/bench/floor $(BUILD)/bench/sslloop $(BUILD)/bench/reqrate
