// greeter-body: write one latscope.greeter.HelloRequest as a gRPC message (5-byte length
// prefix + protobuf), the body h2load sends with
//   h2load -d FILE -H 'content-type: application/grpc' -H 'te: trailers' URL
#include <getopt.h>
#include <string.h>

#include <string>

#include "request.h"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: greeter-body [-o FILE] [options]\n"
		"Write one length-prefixed gRPC HelloRequest to FILE (default stdout).\n"
		"\n"
		"  -o, --output FILE      where to write\n"
		REQUEST_USAGE
		"  -h, --help             show this help\n"
		"\n"
		"Exit status: 0 on success, 1 on a runtime error, 2 on a usage error.\n");
}

int main(int argc, char **argv)
{
	enum { OPT_REQ = 256 };
	static const struct option longopts[] = {
		{ "output", required_argument, nullptr, 'o' },
		{ "help", no_argument, nullptr, 'h' },
		REQUEST_OPTIONS(OPT_REQ),
		{ nullptr, 0, nullptr, 0 },
	};
	const char *path = nullptr;
	RequestFlags f;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:h", longopts, nullptr)) != -1) {
		if ((r = request_option("greeter-body", c, OPT_REQ, optarg, &f)) < 0)
			return 2;
		if (r)
			continue;
		switch (c) {
		case 'o': path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	latscope::greeter::HelloRequest req;
	std::string msg;
	build_request(f, &req);
	if (!req.SerializeToString(&msg)) {
		fprintf(stderr, "greeter-body: cannot serialize the request\n");
		return 1;
	}
	// gRPC's message prefix: a compressed flag (0) and the length, big-endian.
	unsigned char prefix[5] = { 0, (unsigned char)(msg.size() >> 24), (unsigned char)(msg.size() >> 16),
				    (unsigned char)(msg.size() >> 8), (unsigned char)msg.size() };
	FILE *out = path ? fopen(path, "wb") : stdout;
	if (!out) {
		fprintf(stderr, "greeter-body: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (fwrite(prefix, 1, 5, out) != 5 || fwrite(msg.data(), 1, msg.size(), out) != msg.size() ||
	    (path && fclose(out))) {
		fprintf(stderr, "greeter-body: %s: %s\n", path ? path : "stdout", strerror(errno));
		return 1;
	}
	return 0;
}
