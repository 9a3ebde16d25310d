/* grpcbody: write one latscope.example.EchoRequest as a gRPC message (5-byte length prefix +
 * protobuf), the body h2load sends with
 *   h2load -d FILE -H 'content-type: application/grpc' -H 'te: trailers' URL */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "echo.h"
#include "echo.pb-c.h"

#define MAX_VALUES        (16u << 20)
#define MAX_PAYLOAD_BYTES ECHO_MAX_REQ_BYTES

static void usage(FILE *out)
{
	fprintf(out,
		"usage: grpcbody [-o FILE] [options]\n"
		"Write one length-prefixed gRPC EchoRequest to FILE (default stdout).\n"
		"\n"
		"  -o, --output FILE      where to write\n"
		"      --sleep-ms N       ask the server to delay the reply N ms\n"
		"      --burn-ms N        ask the server to spin N ms of CPU\n"
		"      --resp-bytes N     ask for an N-byte reply payload\n"
		"      --values N         carry N int64 values (0, 1000003, 2000006, ...)\n"
		"      --payload-bytes N  carry an N-byte payload the server ignores\n"
		"  -h, --help             show this help\n"
		"\n"
		"Every method of latscope.example.Echo takes this message. Exit status: 0 on\n"
		"success, 1 on a runtime error, 2 on a usage error.\n");
}

static int parse_u32(const char *name, const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max) {
		fprintf(stderr, "grpcbody: %s %s: expected a number from 0 to %u\n", name, s, max);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_SLEEP = 256, OPT_BURN, OPT_RESP, OPT_VALUES, OPT_PAYLOAD };
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "sleep-ms", required_argument, NULL, OPT_SLEEP },
		{ "burn-ms", required_argument, NULL, OPT_BURN },
		{ "resp-bytes", required_argument, NULL, OPT_RESP },
		{ "values", required_argument, NULL, OPT_VALUES },
		{ "payload-bytes", required_argument, NULL, OPT_PAYLOAD },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	Latscope__Example__EchoRequest req = LATSCOPE__EXAMPLE__ECHO_REQUEST__INIT;
	const char *path = NULL;
	uint32_t n_values = 0, payload_bytes = 0;
	int64_t *values = NULL;
	uint8_t *payload = NULL, *buf = NULL;
	size_t msg_len;
	FILE *out = stdout;
	int c, status = 2;

	while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
		int rc = 0;

		switch (c) {
		case 'o':
			path = optarg;
			break;
		case OPT_SLEEP:
			rc = parse_u32("--sleep-ms", optarg, ECHO_MAX_SLEEP_MS, &req.sleep_ms);
			break;
		case OPT_BURN:
			rc = parse_u32("--burn-ms", optarg, ECHO_MAX_BURN_MS, &req.burn_ms);
			break;
		case OPT_RESP:
			rc = parse_u32("--resp-bytes", optarg, ECHO_MAX_RESP_BYTES, &req.resp_bytes);
			break;
		case OPT_VALUES:
			rc = parse_u32("--values", optarg, MAX_VALUES, &n_values);
			break;
		case OPT_PAYLOAD:
			rc = parse_u32("--payload-bytes", optarg, MAX_PAYLOAD_BYTES, &payload_bytes);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "grpcbody: %s needs an argument\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "grpcbody: unknown option '%s'; try 'grpcbody --help'\n",
				argv[optind - 1]);
			return 2;
		}
		if (rc < 0)
			return 2;
	}
	if (optind < argc) {
		fprintf(stderr, "grpcbody: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}

	status = 1;
	values = malloc((n_values ? n_values : 1) * sizeof(*values));
	payload = malloc(payload_bytes ? payload_bytes : 1);
	if (!values || !payload) {
		fprintf(stderr, "grpcbody: out of memory\n");
		goto cleanup;
	}
	/* Multiples of a large prime make multi-byte varints, as real data would. */
	for (uint32_t i = 0; i < n_values; i++)
		values[i] = (int64_t)i * 1000003;
	memset(payload, 'x', payload_bytes);
	req.n_values = n_values;
	req.values = values;
	req.payload.data = payload;
	req.payload.len = payload_bytes;

	msg_len = latscope__example__echo_request__get_packed_size(&req);
	buf = malloc(5 + msg_len);
	if (!buf) {
		fprintf(stderr, "grpcbody: out of memory\n");
		goto cleanup;
	}
	buf[0] = 0; /* not compressed */
	buf[1] = (uint8_t)(msg_len >> 24);
	buf[2] = (uint8_t)(msg_len >> 16);
	buf[3] = (uint8_t)(msg_len >> 8);
	buf[4] = (uint8_t)msg_len;
	latscope__example__echo_request__pack(&req, buf + 5);

	if (path) {
		out = fopen(path, "wb");
		if (!out) {
			fprintf(stderr, "grpcbody: %s: %s\n", path, strerror(errno));
			goto cleanup;
		}
	}
	if (fwrite(buf, 1, 5 + msg_len, out) != 5 + msg_len || fflush(out) != 0) {
		fprintf(stderr, "grpcbody: %s: %s\n", path ? path : "stdout", strerror(errno));
		goto cleanup;
	}
	status = 0;
cleanup:
	if (out != stdout && out && fclose(out) != 0 && status == 0) {
		fprintf(stderr, "grpcbody: %s: %s\n", path, strerror(errno));
		status = 1;
	}
	free(buf);
	free(payload);
	free(values);
	return status;
}
