# examples/h2server: the HTTP/2 + gRPC over TLS target server, and grpcbody, which writes the
# request bodies h2load sends to it. Included by the top-level Makefile and run from the repo
# root; expects BUILD and CC. EXAMPLE_CFLAGS adds flags, e.g. EXAMPLE_CFLAGS=-fsanitize=address.

PROTOC_C   ?= protoc-c
H2S_SRC    := examples/h2server
H2S_GEN    := $(BUILD)/examples/gen
H2S_OBJ    := $(BUILD)/examples/obj/h2server
H2S_CFLAGS  = -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE \
              $(EXAMPLE_CFLAGS)
H2S_LDLIBS := -lssl -lcrypto -lnghttp2 -lprotobuf-c -pthread

H2S_OBJS   := $(addprefix $(H2S_OBJ)/,main.o server.o echo.o grpcbody.o)
H2S_PB_OBJ := $(H2S_OBJ)/echo.pb-c.o

EXAMPLES += $(BUILD)/examples/h2server $(BUILD)/examples/grpcbody

$(H2S_GEN)/echo.pb-c.c: $(H2S_SRC)/echo.proto
	$(Q)mkdir -p $(@D)
	@echo "  PROTOC  $@"
	$(Q)$(PROTOC_C) --proto_path=$(H2S_SRC) --c_out=$(H2S_GEN) $<

$(H2S_GEN)/echo.pb-c.h: $(H2S_GEN)/echo.pb-c.c ;

$(H2S_OBJS): $(H2S_OBJ)/%.o: $(H2S_SRC)/%.c $(H2S_GEN)/echo.pb-c.h
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(H2S_CFLAGS) -I$(H2S_SRC) -I$(H2S_GEN) -MMD -MP -c $< -o $@

$(H2S_PB_OBJ): $(H2S_GEN)/echo.pb-c.c $(H2S_GEN)/echo.pb-c.h
	$(Q)mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(H2S_CFLAGS) -I$(H2S_GEN) -c $< -o $@

$(BUILD)/examples/h2server: $(addprefix $(H2S_OBJ)/,main.o server.o echo.o) $(H2S_PB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(H2S_CFLAGS) -o $@ $^ $(H2S_LDLIBS)

$(BUILD)/examples/grpcbody: $(H2S_OBJ)/grpcbody.o $(H2S_PB_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(H2S_CFLAGS) -o $@ $^ $(H2S_LDLIBS)

-include $(H2S_OBJS:.o=.d)
