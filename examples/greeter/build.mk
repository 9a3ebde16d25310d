# examples/greeter: the C++ gRPC target (Debian's libgrpc++ and libprotobuf), its client, and
# greeter-body, which writes the request bodies h2load sends to it. Included by the
# top-level Makefile and run from the repo root; expects BUILD. Generated code goes to
# $(BUILD)/examples/gen/greeter.

CXX        ?= g++
PROTOC     ?= protoc
GRPC_PLUGIN ?= $(shell which grpc_cpp_plugin)
GRT_SRC    := examples/greeter
GRT_GEN    := $(BUILD)/examples/gen/greeter
GRT_OBJ    := $(BUILD)/examples/obj/greeter
GRT_CXXFLAGS = -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Werror -std=c++17 \
              $(shell pkg-config --cflags grpc++ protobuf) $(EXAMPLE_CFLAGS)
GRT_LDLIBS  = $(shell pkg-config --libs grpc++ protobuf) -pthread

GRT_PB     := $(GRT_OBJ)/greeter.pb.o
GRT_GRPC   := $(GRT_OBJ)/greeter.grpc.pb.o

EXAMPLES += $(BUILD)/examples/greeter-server $(BUILD)/examples/greeter-client $(BUILD)/examples/greeter-body

$(GRT_GEN)/greeter.pb.cc: $(GRT_SRC)/greeter.proto
	$(Q)mkdir -p $(@D)
	@echo "  PROTOC  $@"
	$(Q)$(PROTOC) --proto_path=$(GRT_SRC) --cpp_out=$(GRT_GEN) --grpc_out=$(GRT_GEN) \
		--plugin=protoc-gen-grpc=$(GRPC_PLUGIN) $<

$(GRT_GEN)/greeter.pb.h $(GRT_GEN)/greeter.grpc.pb.cc $(GRT_GEN)/greeter.grpc.pb.h: $(GRT_GEN)/greeter.pb.cc ;

$(GRT_OBJ)/%.pb.o: $(GRT_GEN)/%.pb.cc $(GRT_GEN)/greeter.pb.h $(GRT_GEN)/greeter.grpc.pb.h
	$(Q)mkdir -p $(@D)
	@echo "  CXX     $@"
	$(Q)$(CXX) $(GRT_CXXFLAGS) -Wno-unused-parameter -I$(GRT_GEN) -c $< -o $@

$(GRT_OBJ)/%.o: $(GRT_SRC)/%.cc $(GRT_GEN)/greeter.pb.h $(GRT_GEN)/greeter.grpc.pb.h
	$(Q)mkdir -p $(@D)
	@echo "  CXX     $@"
	$(Q)$(CXX) $(GRT_CXXFLAGS) -I$(GRT_SRC) -I$(GRT_GEN) -MMD -MP -c $< -o $@

$(BUILD)/examples/greeter-server: $(GRT_OBJ)/server.o $(GRT_PB) $(GRT_GRPC)
	@echo "  LD      $@"
	$(Q)$(CXX) $(GRT_CXXFLAGS) -o $@ $^ $(GRT_LDLIBS)

$(BUILD)/examples/greeter-client: $(GRT_OBJ)/client.o $(GRT_PB) $(GRT_GRPC)
	@echo "  LD      $@"
	$(Q)$(CXX) $(GRT_CXXFLAGS) -o $@ $^ $(GRT_LDLIBS)

$(BUILD)/examples/greeter-body: $(GRT_OBJ)/body.o $(GRT_PB)
	@echo "  LD      $@"
	$(Q)$(CXX) $(GRT_CXXFLAGS) -o $@ $^ $(shell pkg-config --libs protobuf)

-include $(GRT_OBJ)/server.d $(GRT_OBJ)/client.d $(GRT_OBJ)/body.d
