#include "catalog.h"

#include <string.h>

static const struct ls_catalog_entry catalog[] = {
	/* OpenSSL 1.1 / 3: libssl.so or statically linked into any executable. */
	/* SSL_read_ex/SSL_write_ex are separate entry points, not wrappers of SSL_read/SSL_write. */
	{ "openssl", "SSL_read",         "tls", LS_PROBE_SSL_READ,         LS_ARG_SSL_RW,    LS_KIND_TLS_READ,      LS_CAT_RETPROBE, NULL },
	{ "openssl", "SSL_write",        "tls", LS_PROBE_SSL_WRITE,        LS_ARG_SSL_RW,    LS_KIND_TLS_WRITE,     LS_CAT_RETPROBE, NULL },
	{ "openssl", "SSL_read_ex",      "tls", LS_PROBE_SSL_READ_EX,      LS_ARG_SSL_RW_EX, LS_KIND_TLS_READ,      LS_CAT_RETPROBE, NULL },
	{ "openssl", "SSL_write_ex",     "tls", LS_PROBE_SSL_WRITE_EX,     LS_ARG_SSL_RW_EX, LS_KIND_TLS_WRITE,     LS_CAT_RETPROBE, NULL },
	{ "openssl", "SSL_do_handshake", "tls", LS_PROBE_SSL_DO_HANDSHAKE, LS_ARG_SSL_HS,    LS_KIND_TLS_HANDSHAKE, LS_CAT_RETPROBE, NULL },
	/* SSL_accept/SSL_connect call SSL_do_handshake: the nested call is folded into them. */
	{ "openssl", "SSL_accept",       "tls", LS_PROBE_SSL_ACCEPT,       LS_ARG_SSL_HS,    LS_KIND_TLS_HANDSHAKE, LS_CAT_RETPROBE, NULL },
	{ "openssl", "SSL_connect",      "tls", LS_PROBE_SSL_CONNECT,      LS_ARG_SSL_HS,    LS_KIND_TLS_HANDSHAKE, LS_CAT_RETPROBE, NULL },
	/*
	 * SSL_new calls SSL_clear, and so does the handshake's state machine as it begins
	 * (inside SSL_do_handshake, or inside the SSL_read that runs it implicitly, as Node.js
	 * does over memory BIOs): the object's address now carries a new connection.
	 */
	{ "openssl", "SSL_clear",        "tls", LS_PROBE_SSL_CLEAR,        LS_ARG_SSL_HS,    LS_KIND_TLS_FRESH,     LS_CAT_RETPROBE, NULL },
	/* The end of a connection: its entries in the kernel's tables go (an entry probe only, not timed). */
	{ "openssl", "SSL_free",         "tls", LS_PROBE_SSL_FREE,         LS_ARG_SSL_HS,    LS_KIND_TLS_FREE,      0, NULL },

	/*
	 * nghttp2. From 1.61 on, mem_recv/mem_send are bare jumps to mem_recv2/mem_send2:
	 * where both exist only the *2 functions are probed, or every call counts twice.
	 */
	{ "nghttp2", "nghttp2_session_mem_recv2", "h2", LS_PROBE_H2_MEM_RECV2, LS_ARG_H2_MEM_RECV, LS_KIND_H2_IN,  LS_CAT_RETPROBE, NULL },
	{ "nghttp2", "nghttp2_session_mem_recv",  "h2", LS_PROBE_H2_MEM_RECV,  LS_ARG_H2_MEM_RECV, LS_KIND_H2_IN,  LS_CAT_RETPROBE, "nghttp2_session_mem_recv2" },
	/* mem_send: its entry only, timed to the thread's next write (ls_h2o_open in bpf/calls.bpf.h). */
	{ "nghttp2", "nghttp2_session_mem_send2", "h2", LS_PROBE_H2_MEM_SEND2, LS_ARG_H2_MEM_SEND, LS_KIND_H2_OUT, 0, NULL },
	{ "nghttp2", "nghttp2_session_mem_send",  "h2", LS_PROBE_H2_MEM_SEND,  LS_ARG_H2_MEM_SEND, LS_KIND_H2_OUT, 0, "nghttp2_session_mem_send2" },
	{ "nghttp2", "nghttp2_session_send",      "h2", LS_PROBE_H2_SEND,      LS_ARG_H2_SESSION,  LS_KIND_H2_OUT, LS_CAT_RETPROBE, NULL },
	{ "nghttp2", "nghttp2_session_recv",      "h2", LS_PROBE_H2_RECV,      LS_ARG_H2_SESSION,  LS_KIND_H2_IN,  LS_CAT_RETPROBE, NULL },
	{ "nghttp2", "nghttp2_session_del",       "h2", LS_PROBE_H2_SESSION_DEL, LS_ARG_H2_SESSION, LS_KIND_H2_FREE, 0, NULL },

	/* protobuf-c: unpack recurses through itself for nested messages; the outermost call counts. */
	{ "protobuf-c", "protobuf_c_message_unpack",         "proto", LS_PROBE_PBC_UNPACK,         LS_ARG_PTR_RESULT,  LS_KIND_DECODE, LS_CAT_RETPROBE, NULL },
	{ "protobuf-c", "protobuf_c_message_pack",           "proto", LS_PROBE_PBC_PACK,           LS_ARG_SIZE_RESULT, LS_KIND_ENCODE, LS_CAT_RETPROBE, NULL },
	{ "protobuf-c", "protobuf_c_message_pack_to_buffer", "proto", LS_PROBE_PBC_PACK_TO_BUFFER, LS_ARG_SIZE_RESULT, LS_KIND_ENCODE, LS_CAT_RETPROBE, NULL },

	/* libprotobuf (C++): MessageLite's public parse and serialize entry points (mangled). */
#define PB_PARSE(sym) { "protobuf", sym, "proto", LS_PROBE_PB_PARSE, LS_ARG_BOOL_RESULT, LS_KIND_DECODE, LS_CAT_RETPROBE, NULL }
#define PB_SERIALIZE(sym) { "protobuf", sym, "proto", LS_PROBE_PB_SERIALIZE, LS_ARG_BOOL_RESULT, LS_KIND_ENCODE, LS_CAT_RETPROBE, NULL }
	PB_PARSE("_ZN6google8protobuf11MessageLite14ParseFromArrayEPKvi"),
	PB_PARSE("_ZN6google8protobuf11MessageLite15ParseFromStringERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"),
	PB_PARSE("_ZN6google8protobuf11MessageLite23ParseFromZeroCopyStreamEPNS0_2io19ZeroCopyInputStreamE"),
	PB_PARSE("_ZN6google8protobuf11MessageLite20ParseFromCodedStreamEPNS0_2io16CodedInputStreamE"),
	PB_PARSE("_ZN6google8protobuf11MessageLite15MergeFromStringERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"),
	PB_PARSE("_ZN6google8protobuf11MessageLite20MergeFromCodedStreamEPNS0_2io16CodedInputStreamE"),
	PB_PARSE("_ZN6google8protobuf11MessageLite30ParseFromBoundedZeroCopyStreamEPNS0_2io19ZeroCopyInputStreamEi"),
	PB_SERIALIZE("_ZNK6google8protobuf11MessageLite16SerializeToArrayEPvi"),
	PB_SERIALIZE("_ZNK6google8protobuf11MessageLite17SerializeToStringEPNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"),
	PB_SERIALIZE("_ZNK6google8protobuf11MessageLite25SerializeToZeroCopyStreamEPNS0_2io20ZeroCopyOutputStreamE"),
	PB_SERIALIZE("_ZNK6google8protobuf11MessageLite22SerializeToCodedStreamEPNS0_2io17CodedOutputStreamE"),
	/* The Partial variants are what bindings call when they check required fields themselves. */
	PB_PARSE("_ZN6google8protobuf11MessageLite21ParsePartialFromArrayEPKvi"),
	PB_PARSE("_ZN6google8protobuf11MessageLite22ParsePartialFromStringERKNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"),
	PB_PARSE("_ZN6google8protobuf11MessageLite27MergePartialFromCodedStreamEPNS0_2io16CodedInputStreamE"),
	PB_SERIALIZE("_ZNK6google8protobuf11MessageLite23SerializePartialToArrayEPvi"),
	PB_SERIALIZE("_ZNK6google8protobuf11MessageLite24SerializePartialToStringEPNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEEE"),
	PB_SERIALIZE("_ZNK6google8protobuf11MessageLite29SerializePartialToCodedStreamEPNS0_2io17CodedOutputStreamE"),
	/* gRPC serializes a message of at most 23 bytes straight into an inlined slice. */
	{ "protobuf", "_ZNK6google8protobuf11MessageLite31SerializeWithCachedSizesToArrayEPh", "proto", LS_PROBE_PB_SERIALIZE,
	  LS_ARG_PTR_RESULT, LS_KIND_ENCODE, LS_CAT_RETPROBE, NULL },
	/*
	 * Reflection: DynamicMessage and the messages of bindings that build types at run time
	 * (Python's C++ backend, descriptor-driven code) parse and serialize through WireFormat.
	 */
	PB_PARSE("_ZN6google8protobuf8internal10WireFormat20ParseAndMergePartialEPNS0_2io16CodedInputStreamEPNS0_7MessageE"),
	{ "protobuf", "_ZN6google8protobuf8internal10WireFormat14_InternalParseEPNS0_7MessageEPKcPNS1_12ParseContextE", "proto",
	  LS_PROBE_PB_PARSE, LS_ARG_PTR_RESULT, LS_KIND_DECODE, LS_CAT_RETPROBE, NULL },
	{ "protobuf", "_ZN6google8protobuf8internal10WireFormat18_InternalSerializeERKNS0_7MessageEPhPNS0_2io19EpsCopyOutputStreamE",
	  "proto", LS_PROBE_PB_SERIALIZE, LS_ARG_PTR_RESULT, LS_KIND_ENCODE, LS_CAT_RETPROBE, NULL },
#undef PB_PARSE
#undef PB_SERIALIZE

	/*
	 * gRPC C++ (libgrpc). Its HTTP/2 stack is its own (chttp2), not nghttp2; its TLS runs
	 * OpenSSL over a BIO pair, so the frames are followed in SSL_read/SSL_write plaintext as
	 * for any server, and these mark gRPC's framing time. perform_read returns an absl::Status
	 * in memory (the transport is its second argument). end_write runs after the bytes have
	 * left: its time belongs to no response, so it is only timed. absl's inline namespace
	 * (Debian: debian3, upstream: lts_YYYYMMDD, or none) is matched by a wildcard.
	 */
	{ "grpc", "_Z24grpc_chttp2_perform_readP21grpc_chttp2_transportRK10grpc_slice", "h2", LS_PROBE_GRPC_PERFORM_READ,
	  LS_ARG_SRET_OBJ, LS_KIND_H2_IN, LS_CAT_RETPROBE, NULL },
	{ "grpc", "_Z23grpc_chttp2_begin_writeP21grpc_chttp2_transport", "h2", LS_PROBE_GRPC_BEGIN_WRITE,
	  LS_ARG_ANY, LS_KIND_H2_OUT, LS_CAT_RETPROBE, NULL },
	{ "grpc", "_Z21grpc_chttp2_end_writeP21grpc_chttp2_transportN4absl*6StatusE", "grpc", LS_PROBE_GRPC_END_WRITE,
	  LS_ARG_ANY, LS_KIND_GRPC, LS_CAT_RETPROBE, NULL },
	/* The C API under every C++ call: operations of a call, and a server asking for the next one. */
	{ "grpc", "grpc_call_start_batch", "grpc", LS_PROBE_GRPC_START_BATCH, LS_ARG_INT_ZERO_OK, LS_KIND_GRPC, LS_CAT_RETPROBE, NULL },
	{ "grpc", "grpc_server_request_call", "grpc", LS_PROBE_GRPC_REQUEST_CALL, LS_ARG_INT_ZERO_OK, LS_KIND_GRPC, LS_CAT_RETPROBE, NULL },
	{ "grpc", "grpc_server_request_registered_call", "grpc", LS_PROBE_GRPC_REQUEST_CALL, LS_ARG_INT_ZERO_OK, LS_KIND_GRPC,
	  LS_CAT_RETPROBE, NULL },

	/*
	 * Go (register ABI). The exported Handshake is inlined into its callers:
	 * the server and client handshake functions are what runs once per
	 * connection. x/net/http2's Framer.WriteData is inlined; WriteDataPadded
	 * is what fires. net/http carries its own copy as http2Framer.
	 */
#define GO(lib, sym, phase, probe, conv, kind) { lib, sym, phase, probe, conv, kind, LS_CAT_GO, NULL }
	GO("go", "crypto/tls.(*Conn).Read",            "tls", LS_PROBE_GO_TLS_READ,      LS_ARG_GO_RW,  LS_KIND_TLS_READ),
	GO("go", "crypto/tls.(*Conn).Write",           "tls", LS_PROBE_GO_TLS_WRITE,     LS_ARG_GO_RW,  LS_KIND_TLS_WRITE),
	GO("go", "crypto/tls.(*Conn).serverHandshake", "tls", LS_PROBE_GO_TLS_HANDSHAKE, LS_ARG_GO_ERR, LS_KIND_TLS_HANDSHAKE),
	GO("go", "crypto/tls.(*Conn).clientHandshake", "tls", LS_PROBE_GO_TLS_HANDSHAKE, LS_ARG_GO_ERR, LS_KIND_TLS_HANDSHAKE),
	GO("go", "golang.org/x/net/http2.(*Framer).ReadFrame",       "h2", LS_PROBE_GO_H2_READ_FRAME,    LS_ARG_GO_ANY, LS_KIND_H2_IN),
	GO("go", "golang.org/x/net/http2.(*Framer).WriteHeaders",    "h2", LS_PROBE_GO_H2_WRITE_HEADERS, LS_ARG_GO_ANY, LS_KIND_H2_OUT),
	GO("go", "golang.org/x/net/http2.(*Framer).WriteDataPadded", "h2", LS_PROBE_GO_H2_WRITE_DATA,    LS_ARG_GO_ANY, LS_KIND_H2_OUT),
	GO("go", "net/http.(*http2Framer).ReadFrame",       "h2", LS_PROBE_GO_H2_READ_FRAME,    LS_ARG_GO_ANY, LS_KIND_H2_IN),
	GO("go", "net/http.(*http2Framer).WriteHeaders",    "h2", LS_PROBE_GO_H2_WRITE_HEADERS, LS_ARG_GO_ANY, LS_KIND_H2_OUT),
	GO("go", "net/http.(*http2Framer).WriteDataPadded", "h2", LS_PROBE_GO_H2_WRITE_DATA,    LS_ARG_GO_ANY, LS_KIND_H2_OUT),
	GO("go", "google.golang.org/protobuf/proto.UnmarshalOptions.unmarshal", "proto", LS_PROBE_GO_PB_UNMARSHAL, LS_ARG_GO_ANY, LS_KIND_DECODE),
	GO("go", "google.golang.org/protobuf/proto.MarshalOptions.marshal",     "proto", LS_PROBE_GO_PB_MARSHAL,   LS_ARG_GO_ANY, LS_KIND_ENCODE),
	/*
	 * grpc-go. operateHeaders runs on the connection's reader goroutine with
	 * the header fields already decoded: it names the stream. The handler
	 * runs on a goroutine of its own: processUnaryRPC/processStreamingRPC
	 * (and WriteStatus) tell which transport stream that goroutine serves, so
	 * its decodes and encodes go to the right request. The codec wraps
	 * protobuf's unmarshal/marshal (the outermost call counts).
	 */
	GO("grpc-go", "google.golang.org/grpc/internal/transport.(*http2Server).operateHeaders", "h2", LS_PROBE_GO_GRPC_HEADERS, LS_ARG_GO_HEADERS, LS_KIND_GO_HEADERS),
	GO("grpc-go", "google.golang.org/grpc.(*Server).processUnaryRPC",     "app", LS_PROBE_GO_GRPC_UNARY,     LS_ARG_GO_STREAM_DI, LS_KIND_GO_RPC),
	GO("grpc-go", "google.golang.org/grpc.(*Server).processStreamingRPC", "app", LS_PROBE_GO_GRPC_STREAMING, LS_ARG_GO_STREAM_DI, LS_KIND_GO_RPC),
	GO("grpc-go", "google.golang.org/grpc/internal/transport.(*http2Server).WriteStatus", "h2", LS_PROBE_GO_GRPC_STATUS, LS_ARG_GO_STREAM_BX, LS_KIND_GO_RPC),
	GO("grpc-go", "google.golang.org/grpc/encoding/proto.codec.Unmarshal", "proto", LS_PROBE_GO_GRPC_UNMARSHAL, LS_ARG_GO_ANY, LS_KIND_DECODE),
	GO("grpc-go", "google.golang.org/grpc/encoding/proto.codec.Marshal",   "proto", LS_PROBE_GO_GRPC_MARSHAL,   LS_ARG_GO_ANY, LS_KIND_ENCODE),
#undef GO
};

static const char *const probe_names[LS_PROBE_COUNT] = {
	[LS_PROBE_SSL_READ] = "SSL_read",
	[LS_PROBE_SSL_WRITE] = "SSL_write",
	[LS_PROBE_SSL_READ_EX] = "SSL_read_ex",
	[LS_PROBE_SSL_WRITE_EX] = "SSL_write_ex",
	[LS_PROBE_SSL_DO_HANDSHAKE] = "SSL_do_handshake",
	[LS_PROBE_SSL_ACCEPT] = "SSL_accept",
	[LS_PROBE_SSL_CONNECT] = "SSL_connect",
	[LS_PROBE_NET_SEND] = "tcp_sendmsg",
	[LS_PROBE_NET_RECV] = "tcp_recvmsg",
	[LS_PROBE_H2_MEM_RECV] = "nghttp2_session_mem_recv",
	[LS_PROBE_H2_MEM_RECV2] = "nghttp2_session_mem_recv2",
	[LS_PROBE_H2_MEM_SEND] = "nghttp2_session_mem_send",
	[LS_PROBE_H2_MEM_SEND2] = "nghttp2_session_mem_send2",
	[LS_PROBE_H2_SEND] = "nghttp2_session_send",
	[LS_PROBE_H2_RECV] = "nghttp2_session_recv",
	[LS_PROBE_PBC_UNPACK] = "protobuf_c_message_unpack",
	[LS_PROBE_PBC_PACK] = "protobuf_c_message_pack",
	[LS_PROBE_PBC_PACK_TO_BUFFER] = "protobuf_c_message_pack_to_buffer",
	[LS_PROBE_PB_PARSE] = "MessageLite::Parse",
	[LS_PROBE_PB_SERIALIZE] = "MessageLite::Serialize",
	[LS_PROBE_GO_TLS_READ] = "crypto/tls.(*Conn).Read",
	[LS_PROBE_GO_TLS_WRITE] = "crypto/tls.(*Conn).Write",
	[LS_PROBE_GO_TLS_HANDSHAKE] = "crypto/tls handshake",
	[LS_PROBE_GO_H2_READ_FRAME] = "http2.(*Framer).ReadFrame",
	[LS_PROBE_GO_H2_WRITE_HEADERS] = "http2.(*Framer).WriteHeaders",
	[LS_PROBE_GO_H2_WRITE_DATA] = "http2.(*Framer).WriteDataPadded",
	[LS_PROBE_GO_PB_UNMARSHAL] = "proto.UnmarshalOptions.unmarshal",
	[LS_PROBE_GO_PB_MARSHAL] = "proto.MarshalOptions.marshal",
	[LS_PROBE_GO_GRPC_HEADERS] = "transport.(*http2Server).operateHeaders",
	[LS_PROBE_GO_GRPC_UNARY] = "grpc.(*Server).processUnaryRPC",
	[LS_PROBE_GO_GRPC_STREAMING] = "grpc.(*Server).processStreamingRPC",
	[LS_PROBE_GO_GRPC_STATUS] = "transport.(*http2Server).WriteStatus",
	[LS_PROBE_GO_GRPC_UNMARSHAL] = "grpc proto codec.Unmarshal",
	[LS_PROBE_GO_GRPC_MARSHAL] = "grpc proto codec.Marshal",
	[LS_PROBE_GRPC_PERFORM_READ] = "grpc_chttp2_perform_read",
	[LS_PROBE_GRPC_BEGIN_WRITE] = "grpc_chttp2_begin_write",
	[LS_PROBE_GRPC_END_WRITE] = "grpc_chttp2_end_write",
	[LS_PROBE_GRPC_START_BATCH] = "grpc_call_start_batch",
	[LS_PROBE_GRPC_REQUEST_CALL] = "grpc_server_request_call",
	[LS_PROBE_SSL_CLEAR] = "SSL_clear",
	[LS_PROBE_SSL_FREE] = "SSL_free",
	[LS_PROBE_H2_SESSION_DEL] = "nghttp2_session_del",
};

const struct ls_catalog_entry *ls_catalog(size_t *n)
{
	*n = sizeof(catalog) / sizeof(catalog[0]);
	return catalog;
}

const char *ls_probe_name(unsigned int probe)
{
	return probe < LS_PROBE_COUNT && probe_names[probe] ? probe_names[probe] : "?";
}

/* The libraries: the file names that hold each (a stem, up to its first dot). */
static const struct {
	const char *library, *stem;
} library_files[] = {
	{ "openssl", "libssl." },
	{ "nghttp2", "libnghttp2." },
	{ "protobuf", "libprotobuf." },
	{ "protobuf", "libprotobuf-lite." },
	{ "protobuf-c", "libprotobuf-c." },
	{ "grpc", "libgrpc." },
};

/* Symbols a library of this file name never defines, whatever its version, and why. */
static const struct {
	const char *stem, *prefix, *why;
} absent_by_design[] = {
	{ "libprotobuf-lite.", "_ZN6google8protobuf8internal10WireFormat",
	  "the lite runtime has no reflection (WireFormat is in libprotobuf only)" },
};

int ls_library_file(const char *library, const char *file)
{
	for (size_t i = 0; i < sizeof(library_files) / sizeof(library_files[0]); i++)
		if (!strcmp(library_files[i].library, library) &&
		    !strncmp(file, library_files[i].stem, strlen(library_files[i].stem)))
			return 1;
	return 0;
}

const char *ls_library_of_file(const char *file)
{
	for (size_t i = 0; i < sizeof(library_files) / sizeof(library_files[0]); i++)
		if (!strncmp(file, library_files[i].stem, strlen(library_files[i].stem)))
			return library_files[i].library;
	return NULL;
}

const char *ls_library_absent(const char *file, const char *symbol)
{
	for (size_t i = 0; i < sizeof(absent_by_design) / sizeof(absent_by_design[0]); i++)
		if (!strncmp(file, absent_by_design[i].stem, strlen(absent_by_design[i].stem)) &&
		    !strncmp(symbol, absent_by_design[i].prefix, strlen(absent_by_design[i].prefix)))
			return absent_by_design[i].why;
	return NULL;
}

const char *ls_probe_net_dir(unsigned int probe)
{
	return probe == LS_PROBE_NET_SEND ? "send" : probe == LS_PROBE_NET_RECV ? "recv" : NULL;
}

int ls_kind_is_tls(enum ls_kind kind)
{
	return kind == LS_KIND_TLS_READ || kind == LS_KIND_TLS_WRITE || kind == LS_KIND_TLS_HANDSHAKE;
}

int ls_probe_is_handshake(unsigned int probe)
{
	for (size_t i = 0; i < sizeof(catalog) / sizeof(catalog[0]); i++)
		if (catalog[i].probe == probe && catalog[i].kind == LS_KIND_TLS_HANDSHAKE)
			return 1;
	return 0;
}

const char *ls_khook_name(enum ls_khook h)
{
	switch (h) {
	case LS_KHOOK_FENTRY: return "fentry";
	case LS_KHOOK_KPROBE: return "kprobe";
	case LS_KHOOK_TRACEPOINT: return "tracepoint";
	default: return "none";
	}
}
