// greeter-client: drives greeter-server over TLS and reports what it did:
//   rpcs=N ok=N failed=N replies=N elapsed_s=S rps=R
// Each of -c threads sends its share of -n RPCs one after another on one shared channel.
#include <getopt.h>
#include <string.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "greeter.grpc.pb.h"
#include "request.h"

using latscope::greeter::Greeter;
using latscope::greeter::HelloReply;
using latscope::greeter::HelloRequest;

static void usage(FILE *out)
{
	fprintf(out,
		"usage: greeter-client --target HOST:PORT --ca FILE [options]\n"
		"Call latscope.greeter.Greeter over TLS and print rpcs=N ok=N failed=N replies=N.\n"
		"\n"
		"  -t, --target HOST:PORT server address\n"
		"      --ca FILE          trusted certificate, PEM (the server's self-signed one)\n"
		"      --name NAME        TLS name to expect from the server (default localhost)\n"
		"  -m, --method M         SayHello (default) or SayHellos\n"
		"  -n, --rpcs N           RPCs to make (default 1)\n"
		"  -c, --concurrency N    threads making them (default 1)\n"
		REQUEST_USAGE
		"  -h, --help             show this help\n"
		"\n"
		"Exit status: 0 when every RPC succeeded, 1 otherwise, 2 on a usage error.\n");
}

int main(int argc, char **argv)
{
	enum { OPT_CA = 256, OPT_NAME, OPT_REQ };
	static const struct option longopts[] = {
		{ "target", required_argument, nullptr, 't' },
		{ "ca", required_argument, nullptr, OPT_CA },
		{ "name", required_argument, nullptr, OPT_NAME },
		{ "method", required_argument, nullptr, 'm' },
		{ "rpcs", required_argument, nullptr, 'n' },
		{ "concurrency", required_argument, nullptr, 'c' },
		{ "help", no_argument, nullptr, 'h' },
		REQUEST_OPTIONS(OPT_REQ),
		{ nullptr, 0, nullptr, 0 },
	};
	std::string target, ca_path, tls_name = "localhost", method = "SayHello";
	unsigned rpcs = 1, threads = 1;
	RequestFlags f;
	int c, r;

	while ((c = getopt_long(argc, argv, "t:m:n:c:h", longopts, nullptr)) != -1) {
		if ((r = request_option("greeter-client", c, OPT_REQ, optarg, &f)) < 0)
			return 2;
		if (r)
			continue;
		switch (c) {
		case 't': target = optarg; break;
		case OPT_CA: ca_path = optarg; break;
		case OPT_NAME: tls_name = optarg; break;
		case 'm': method = optarg; break;
		case 'n': if (!parse_uint("greeter-client", "rpcs", optarg, 100000000, &rpcs)) return 2; break;
		case 'c': if (!parse_uint("greeter-client", "concurrency", optarg, 1024, &threads)) return 2; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || target.empty() || ca_path.empty() || !threads ||
	    (method != "SayHello" && method != "SayHellos")) {
		usage(stderr);
		return 2;
	}
	std::ifstream in(ca_path, std::ios::binary);
	if (!in) {
		fprintf(stderr, "greeter-client: %s: %s\n", ca_path.c_str(), strerror(errno));
		return 1;
	}
	std::stringstream pem;
	pem << in.rdbuf();

	grpc::SslCredentialsOptions ssl;
	ssl.pem_root_certs = pem.str();
	grpc::ChannelArguments args;
	args.SetSslTargetNameOverride(tls_name);
	std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(target, grpc::SslCredentials(ssl), args);
	std::unique_ptr<Greeter::Stub> stub = Greeter::NewStub(channel);

	HelloRequest req;
	build_request(f, &req);
	std::atomic<unsigned> next{0};
	std::atomic<unsigned long> ok{0}, failed{0}, replies{0};
	std::string first_error;
	std::atomic_flag error_taken = ATOMIC_FLAG_INIT;
	auto worker = [&]() {
		while (next++ < rpcs) {
			grpc::ClientContext ctx;
			grpc::Status st;

			if (method == "SayHello") {
				HelloReply reply;

				st = stub->SayHello(&ctx, req, &reply);
				if (st.ok())
					replies++;
			} else {
				HelloReply reply;
				std::unique_ptr<grpc::ClientReader<HelloReply>> reader = stub->SayHellos(&ctx, req);

				while (reader->Read(&reply))
					replies++;
				st = reader->Finish();
			}
			if (st.ok()) {
				ok++;
			} else {
				failed++;
				if (!error_taken.test_and_set())
					first_error = st.error_message();
			}
		}
	};
	auto t0 = std::chrono::steady_clock::now();
	std::vector<std::thread> pool;
	for (unsigned i = 0; i < threads; i++)
		pool.emplace_back(worker);
	for (std::thread &t : pool)
		t.join();
	double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	printf("rpcs=%u ok=%lu failed=%lu replies=%lu elapsed_s=%.3f rps=%.1f\n", rpcs, ok.load(), failed.load(),
	       replies.load(), secs, secs > 0 ? ok.load() / secs : 0.0);
	if (failed)
		fprintf(stderr, "greeter-client: %lu of %u RPCs failed, first: %s\n", failed.load(), rpcs,
			first_error.c_str());
	return failed ? 1 : 0;
}
