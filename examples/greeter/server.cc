// greeter-server: a C++ gRPC server over TLS (Debian's libgrpc++, libprotobuf), the C++
// target latscope's tests and benchmark measure. Unary SayHello and server-streaming
// SayHellos, with an injectable handler delay and reply size.
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include "greeter.grpc.pb.h"

namespace {

using latscope::greeter::Greeter;
using latscope::greeter::HelloReply;
using latscope::greeter::HelloRequest;

struct Options {
	std::string addr = "127.0.0.1";
	int port = 8443;
	std::string cert, key;
	unsigned delay_ms = 0;
	unsigned reply_bytes = 0;
	unsigned count = 3;
};

void usage(FILE *out)
{
	fprintf(out,
		"usage: greeter-server --cert FILE --key FILE [options]\n"
		"Serve latscope.greeter.Greeter (gRPC over TLS, grpc::SslServerCredentials).\n"
		"\n"
		"  -a, --addr ADDR        address to listen on (default 127.0.0.1)\n"
		"  -p, --port PORT        port (default 8443; 0 picks a free one). The bound address\n"
		"                         is printed as 'listening on ADDR:PORT'\n"
		"      --cert FILE        certificate chain, PEM\n"
		"      --key FILE         private key, PEM\n"
		"      --delay-ms N       handler delay when the request asks for none (default 0)\n"
		"      --reply-bytes N    reply payload size when the request asks for none (default 0)\n"
		"      --count N          SayHellos replies when the request asks for none (default 3)\n"
		"  -h, --help             show this help\n"
		"\n"
		"Methods: /latscope.greeter.Greeter/SayHello (unary), /latscope.greeter.Greeter/SayHellos\n"
		"(server streaming). A request field that is non-zero wins over the flag. At exit the\n"
		"server prints 'rpcs=N replies=N'.\n"
		"\n"
		"Exit status: 0 after SIGINT or SIGTERM, 1 on a runtime error, 2 on a usage error.\n");
}

bool parse_uint(const char *name, const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max) {
		fprintf(stderr, "greeter-server: %s %s: expected a number from 0 to %u\n", name, s, max);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

bool read_file(const std::string &path, std::string *out)
{
	std::ifstream in(path, std::ios::binary);
	std::stringstream ss;

	if (!in) {
		fprintf(stderr, "greeter-server: %s: %s\n", path.c_str(), strerror(errno));
		return false;
	}
	ss << in.rdbuf();
	*out = ss.str();
	return true;
}

class GreeterImpl final : public Greeter::Service {
public:
	explicit GreeterImpl(const Options &o) : opt_(o) {}

	grpc::Status SayHello(grpc::ServerContext *, const HelloRequest *req, HelloReply *reply) override
	{
		rpcs_++;
		wait(req);
		fill(req, reply, 0);
		replies_++;
		return grpc::Status::OK;
	}

	grpc::Status SayHellos(grpc::ServerContext *, const HelloRequest *req,
			       grpc::ServerWriter<HelloReply> *writer) override
	{
		unsigned n = req->count() ? req->count() : opt_.count;

		rpcs_++;
		wait(req);
		for (unsigned i = 0; i < n; i++) {
			HelloReply reply;

			fill(req, &reply, i);
			if (!writer->Write(reply))
				break;
			replies_++;
		}
		return grpc::Status::OK;
	}

	unsigned long rpcs() const { return rpcs_; }
	unsigned long replies() const { return replies_; }

private:
	// The injected delay is off-CPU, as a handler waiting on a backend would be.
	void wait(const HelloRequest *req)
	{
		unsigned ms = req->delay_ms() ? req->delay_ms() : opt_.delay_ms;

		if (ms)
			std::this_thread::sleep_for(std::chrono::milliseconds(ms));
	}

	void fill(const HelloRequest *req, HelloReply *reply, unsigned index)
	{
		unsigned bytes = req->reply_bytes() ? req->reply_bytes() : opt_.reply_bytes;

		reply->set_message("hello " + req->person().name());
		*reply->mutable_person() = req->person();
		reply->set_payload(std::string(bytes, '\0'));
		reply->set_index(index);
	}

	const Options &opt_;
	std::atomic<unsigned long> rpcs_{0}, replies_{0};
};

} // namespace

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "addr", required_argument, nullptr, 'a' },
		{ "port", required_argument, nullptr, 'p' },
		{ "cert", required_argument, nullptr, 'C' },
		{ "key", required_argument, nullptr, 'K' },
		{ "delay-ms", required_argument, nullptr, 'D' },
		{ "reply-bytes", required_argument, nullptr, 'R' },
		{ "count", required_argument, nullptr, 'N' },
		{ "help", no_argument, nullptr, 'h' },
		{ nullptr, 0, nullptr, 0 },
	};
	Options o;
	unsigned port = 8443;
	int c;

	while ((c = getopt_long(argc, argv, "a:p:h", longopts, nullptr)) != -1) {
		switch (c) {
		case 'a': o.addr = optarg; break;
		case 'p': if (!parse_uint("port", optarg, 65535, &port)) return 2; break;
		case 'C': o.cert = optarg; break;
		case 'K': o.key = optarg; break;
		case 'D': if (!parse_uint("delay-ms", optarg, 600000, &o.delay_ms)) return 2; break;
		case 'R': if (!parse_uint("reply-bytes", optarg, 64u << 20, &o.reply_bytes)) return 2; break;
		case 'N': if (!parse_uint("count", optarg, 1000000, &o.count)) return 2; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || o.cert.empty() || o.key.empty()) {
		usage(stderr);
		return 2;
	}
	o.port = (int)port;

	grpc::SslServerCredentialsOptions ssl;
	grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
	if (!read_file(o.key, &pair.private_key) || !read_file(o.cert, &pair.cert_chain))
		return 1;
	ssl.pem_key_cert_pairs.push_back(pair);

	// Signals are taken by one thread with sigwait: block them before gRPC starts its threads.
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

	GreeterImpl service(o);
	grpc::ServerBuilder builder;
	int bound = 0;
	builder.AddListeningPort(o.addr + ":" + std::to_string(o.port), grpc::SslServerCredentials(ssl), &bound);
	builder.RegisterService(&service);
	std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
	if (!server || !bound) {
		fprintf(stderr, "greeter-server: %s:%d: cannot listen\n", o.addr.c_str(), o.port);
		return 1;
	}
	printf("listening on %s:%d\n", o.addr.c_str(), bound);
	fflush(stdout);

	int sig = 0;
	sigwait(&sigs, &sig);
	server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
	server->Wait();
	printf("rpcs=%lu replies=%lu\n", service.rpcs(), service.replies());
	return 0;
}
