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

# record's sampling overhead and post-processing (bench/profile.sh).
$(BUILD)/bench/spinrate: bench/spinrate.c
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -o $@ $< -lpthread

$(BUILD)/bench/profile_post: bench/profile_post.c $(BUILD)/cli/profile.o $(LIBLS) $(LIBSYM)
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) -Icli $(CFLAGS) -o $@ $< $(BUILD)/cli/profile.o $(LIBLS) $(LIBSYM) $(LDLIBS)

TEST_BINS += $(BUILD)/bench/spinrate $(BUILD)/bench/profile_post
