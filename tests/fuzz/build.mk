# Fuzz targets (libFuzzer, with AddressSanitizer and UBSan), built by clang from the sources they cover.
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $(WARN) -std=gnu11 -D_GNU_SOURCE

$(BUILD)/tests/fuzz_reqs: tests/fuzz/fuzz_reqs.c lib/requests.c lib/hpack.c lib/http1.c lib/h2table.c lib/requests.h lib/hpack.h \
			  lib/http1.h lib/h2table.h bpf/latscope.h
	$(Q)mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(CPPFLAGS) -o $@ tests/fuzz/fuzz_reqs.c lib/requests.c lib/hpack.c lib/http1.c lib/h2table.c \
		-lnghttp2

FUZZ_BINS += $(BUILD)/tests/fuzz_reqs

$(BUILD)/tests/fuzz_h2split: tests/fuzz/fuzz_h2split.c tests/unit/h2split_check.h bpf/h2split.h bpf/latscope.h
	$(Q)mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(CPPFLAGS) -o $@ tests/fuzz/fuzz_h2split.c

FUZZ_BINS += $(BUILD)/tests/fuzz_h2split

# The splitter's unit test includes the walk from bpf/.
$(BUILD)/tests/test_h2split: bpf/h2split.h tests/unit/h2split_check.h

# Targets that read their input as a file (tests/fuzz/fuzz_file.h) get heap copies for their mappings.
FUZZ_WRAP_MMAP := -DFUZZ_WRAP_MMAP -Wl,--wrap=mmap,--wrap=munmap

# Seeds: a small Go program, as built (.symtab, DWARF) and stripped (-s -w: only .gopclntab names its functions).
FUZZ_GO_ENV := GO111MODULE=off GOFLAGS= GOPROXY=off GOPATH=$(abspath $(BUILD))/gopath GOCACHE=$(abspath $(BUILD))/go-cache

$(BUILD)/tests/fuzz-seeds/gosmall: tests/fuzz/seeds/gosmall/main.go
	$(Q)mkdir -p $(@D) $(BUILD)/go-cache
	@echo "  GO      $@"
	$(Q)$(FUZZ_GO_ENV) go build -o $@ ./tests/fuzz/seeds/gosmall

$(BUILD)/tests/fuzz-seeds/gosmall-stripped: tests/fuzz/seeds/gosmall/main.go
	$(Q)mkdir -p $(@D) $(BUILD)/go-cache
	@echo "  GO      $@"
	$(Q)$(FUZZ_GO_ENV) go build -ldflags='-s -w' -o $@ ./tests/fuzz/seeds/gosmall

FUZZ_BINS += $(BUILD)/tests/fuzz-seeds/gosmall $(BUILD)/tests/fuzz-seeds/gosmall-stripped

$(BUILD)/tests/fuzz_gopclntab: tests/fuzz/fuzz_gopclntab.c tests/fuzz/fuzz_file.h symbolizer/gopclntab.c symbolizer/gopclntab.h
	$(Q)mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(FUZZ_WRAP_MMAP) $(CPPFLAGS) -o $@ tests/fuzz/fuzz_gopclntab.c symbolizer/gopclntab.c

FUZZ_BINS += $(BUILD)/tests/fuzz_gopclntab

FUZZ_ELFSYM_SRCS := lib/elfsym.c lib/gofunc.c lib/gooffsets.c lib/util.c symbolizer/gopclntab.c
$(BUILD)/tests/fuzz_elfsym: tests/fuzz/fuzz_elfsym.c tests/fuzz/fuzz_file.h $(FUZZ_ELFSYM_SRCS) lib/elfsym.h lib/gofunc.h lib/gooffsets.h symbolizer/gopclntab.h
	$(Q)mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(FUZZ_WRAP_MMAP) $(CPPFLAGS) -o $@ tests/fuzz/fuzz_elfsym.c $(FUZZ_ELFSYM_SRCS) -lelf -ldw -lcapstone

FUZZ_BINS += $(BUILD)/tests/fuzz_elfsym

FUZZ_SYM_SRCS := $(wildcard symbolizer/*.c)
$(BUILD)/tests/fuzz_symbolizer: tests/fuzz/fuzz_symbolizer.c tests/fuzz/fuzz_file.h $(FUZZ_SYM_SRCS) symbolizer/symbolizer.h symbolizer/symint.h symbolizer/gopclntab.h
	$(Q)mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(FUZZ_WRAP_MMAP) -Wl,--wrap=elf_begin $(CPPFLAGS) -o $@ tests/fuzz/fuzz_symbolizer.c $(FUZZ_SYM_SRCS) -lelf -ldw -lstdc++

FUZZ_BINS += $(BUILD)/tests/fuzz_symbolizer

$(BUILD)/tests/fuzz_procmaps: tests/fuzz/fuzz_procmaps.c lib/procmaps.c lib/util.c lib/procmaps.h
	$(Q)mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(CPPFLAGS) -o $@ tests/fuzz/fuzz_procmaps.c lib/procmaps.c lib/util.c

FUZZ_BINS += $(BUILD)/tests/fuzz_procmaps

$(BUILD)/tests/fuzz_ustacks: tests/fuzz/fuzz_ustacks.c tests/unit/selfstack.h lib/ustacks.c lib/dwunwind.c lib/cfaexpr.c lib/util.c lib/ustacks.h lib/dwunwind.h lib/cfaexpr.h bpf/latscope.h
	$(Q)mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(CPPFLAGS) -o $@ tests/fuzz/fuzz_ustacks.c lib/ustacks.c lib/dwunwind.c lib/cfaexpr.c lib/util.c -ldw -lelf

FUZZ_BINS += $(BUILD)/tests/fuzz_ustacks

$(BUILD)/tests/fuzz_cfaexpr: tests/fuzz/fuzz_cfaexpr.c lib/cfaexpr.c lib/cfaexpr.h bpf/latscope.h
	$(Q)mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(CPPFLAGS) -o $@ tests/fuzz/fuzz_cfaexpr.c lib/cfaexpr.c

FUZZ_BINS += $(BUILD)/tests/fuzz_cfaexpr

$(BUILD)/tests/fuzz_pprof: tests/fuzz/fuzz_pprof.c lib/pprof.c lib/pprof.h
	$(Q)mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(CPPFLAGS) -o $@ tests/fuzz/fuzz_pprof.c lib/pprof.c -lz

FUZZ_BINS += $(BUILD)/tests/fuzz_pprof

# The placement target includes lib/placement.c (for open_object and place_one, past /proc/PID/maps).
FUZZ_PLACE_SRCS := lib/elfsym.c lib/insnclass.c lib/procmaps.c lib/util.c lib/catalog.c symbolizer/gopclntab.c
$(BUILD)/tests/fuzz_placement: tests/fuzz/fuzz_placement.c tests/fuzz/fuzz_file.h lib/placement.c $(FUZZ_PLACE_SRCS) lib/placement.h lib/insnclass.h lib/elfsym.h
	$(Q)mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(FUZZ_WRAP_MMAP) $(CPPFLAGS) -o $@ tests/fuzz/fuzz_placement.c $(FUZZ_PLACE_SRCS) -lelf -ldw -lcapstone

FUZZ_BINS += $(BUILD)/tests/fuzz_placement

$(BUILD)/tests/fuzz_perfmap: tests/fuzz/fuzz_perfmap.c symbolizer/perfmap.c symbolizer/perfmap.h
	$(Q)mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(CPPFLAGS) -o $@ tests/fuzz/fuzz_perfmap.c symbolizer/perfmap.c

FUZZ_BINS += $(BUILD)/tests/fuzz_perfmap

FUZZ_HTTPD_SRCS := lib/httpd.c lib/promexp.c lib/jsonw.c lib/phase.c lib/util.c
$(BUILD)/tests/fuzz_httpd: tests/fuzz/fuzz_httpd.c $(FUZZ_HTTPD_SRCS) lib/httpd.h lib/promexp.h
	$(Q)mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(CPPFLAGS) -o $@ tests/fuzz/fuzz_httpd.c $(FUZZ_HTTPD_SRCS)

FUZZ_BINS += $(BUILD)/tests/fuzz_httpd

$(BUILD)/tests/fuzz_h1split: tests/fuzz/fuzz_h1split.c tests/unit/h1split_check.h bpf/h1split.h bpf/latscope.h lib/http1.c lib/http1.h
	$(Q)mkdir -p $(@D)
	@echo "  FUZZ    $@"
	$(Q)$(CLANG) $(FUZZ_FLAGS) $(CPPFLAGS) -Itests/unit -o $@ tests/fuzz/fuzz_h1split.c lib/http1.c

FUZZ_BINS += $(BUILD)/tests/fuzz_h1split
