# The top view's test links the view itself (cli/ is no library) and the duration formatting it uses.
$(BUILD)/tests/test_topview: $(BUILD)/cli/topview.o $(BUILD)/cli/util.o cli/top.h
$(BUILD)/tests/test_topview: CPPFLAGS += -Icli

$(BUILD)/tests/test_h1split: bpf/h1split.h tests/unit/h1split_check.h
