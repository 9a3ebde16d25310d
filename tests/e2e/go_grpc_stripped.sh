#!/usr/bin/env bash
# go_grpc.sh on the stripped (-ldflags='-s -w') build of the Go gRPC server: no .symtab,
# no DWARF; functions come from .gopclntab and struct offsets from the version table.
GOGRPC_STRIPPED=1 exec "$(dirname "$0")/go_grpc.sh"
