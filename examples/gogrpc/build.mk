# examples/gogrpc: a Go gRPC server (TLS, unary + server-streaming) and its client,
# built offline in GOPATH mode from Debian's Go packages (grpc-go, protobuf-go, x/net),
# plus the same server stripped (-ldflags='-s -w': no .symtab, no DWARF, only .gopclntab).
# The .pb.go files are generated into build/, never into the source tree.

GOG_SRC    := examples/gogrpc
GOG_OUT    := $(BUILD)/examples
GOG_PATH   := $(abspath $(BUILD))/gogrpc/gopath
GOG_PB     := $(GOG_PATH)/src/latscope/gogrpcpb
GOG_ENV    := GO111MODULE=off GOFLAGS= GOPROXY=off GOPATH=$(GOG_PATH):/usr/share/gocode GOBIN=$(GOG_PATH)/bin \
              GOCACHE=$(abspath $(BUILD))/go-cache
GOG_PLUGINS := $(GOG_PATH)/bin/.plugins

EXAMPLES += $(GOG_OUT)/gogrpc-server $(GOG_OUT)/gogrpc-server-stripped $(GOG_OUT)/gogrpc-client

# One recipe builds both protoc plugins (a stamp, so that make -j runs it once).
$(GOG_PLUGINS):
	$(Q)mkdir -p $(GOG_PATH)/bin
	@echo "  GO      protoc-gen-go protoc-gen-go-grpc"
	$(Q)$(GOG_ENV) go install google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc
	$(Q)touch $@

$(GOG_PB)/echo.pb.go: $(GOG_SRC)/echo.proto $(GOG_PLUGINS)
	$(Q)mkdir -p $(GOG_PATH)/src
	@echo "  PROTOC  $@"
	$(Q)protoc --proto_path=$(GOG_SRC) --plugin=protoc-gen-go=$(GOG_PATH)/bin/protoc-gen-go \
		--plugin=protoc-gen-go-grpc=$(GOG_PATH)/bin/protoc-gen-go-grpc \
		--go_out=$(GOG_PATH)/src --go-grpc_out=$(GOG_PATH)/src $<

$(GOG_PB)/echo_grpc.pb.go: $(GOG_PB)/echo.pb.go ;

$(GOG_OUT)/gogrpc-server: $(GOG_SRC)/server/main.go $(GOG_PB)/echo.pb.go $(GOG_PB)/echo_grpc.pb.go
	$(Q)mkdir -p $(@D)
	@echo "  GO      $@"
	$(Q)$(GOG_ENV) go build -o $@ ./$(GOG_SRC)/server

$(GOG_OUT)/gogrpc-server-stripped: $(GOG_SRC)/server/main.go $(GOG_PB)/echo.pb.go $(GOG_PB)/echo_grpc.pb.go
	$(Q)mkdir -p $(@D)
	@echo "  GO      $@"
	$(Q)$(GOG_ENV) go build -ldflags='-s -w' -o $@ ./$(GOG_SRC)/server

$(GOG_OUT)/gogrpc-client: $(GOG_SRC)/client/main.go $(GOG_PB)/echo.pb.go $(GOG_PB)/echo_grpc.pb.go
	$(Q)mkdir -p $(@D)
	@echo "  GO      $@"
	$(Q)$(GOG_ENV) go build -o $@ ./$(GOG_SRC)/client
