# Benchmark programs (make bench runs bench/run.sh).
$(BUILD)/bench/floor: bench/floor.c $(LIBLS) $(LIBSYM) $(BUILD)/bench_floor.skel.h
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIBLS) $(LIBSYM) $(LDLIBS)

$(BUILD)/bench/sslloop: bench/sslloop.c
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) -O2 -g -Wall -Wextra -Werror -o $@ $< -lssl -lcrypto

$(BUILD)/bench/reqrate: bench/reqrate.c $(LIBLS) $(LIBSYM)
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LIBLS) $(LIBSYM) $(LDLIBS)

TEST_BINS += $(BUILD)/bench/floor $(BUILD)/bench/sslloop $(BUILD)/bench/reqrate
