// The request both greeter-client and greeter-body build from their flags.
#ifndef GREETER_REQUEST_H
#define GREETER_REQUEST_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <string>

#include "greeter.pb.h"

struct RequestFlags {
	unsigned delay_ms = 0, reply_bytes = 0, count = 0, addresses = 2, payload_bytes = 0;
	std::string name = "latscope";
};

static inline bool parse_uint(const char *prog, const char *name, const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max) {
		fprintf(stderr, "%s: %s %s: expected a number from 0 to %u\n", prog, name, s, max);
		return false;
	}
	*out = (unsigned)v;
	return true;
}

// A person with `addresses` nested Address messages: one top-level parse, many nested ones.
static inline void build_request(const RequestFlags &f, latscope::greeter::HelloRequest *req)
{
	req->set_delay_ms(f.delay_ms);
	req->set_reply_bytes(f.reply_bytes);
	req->set_count(f.count);
	req->mutable_person()->set_name(f.name);
	for (unsigned i = 0; i < f.addresses; i++) {
		latscope::greeter::Address *a = req->mutable_person()->add_addresses();

		a->set_street(std::to_string(i) + " Main Street");
		a->set_city("Springfield");
	}
	if (f.payload_bytes)
		req->set_payload(std::string(f.payload_bytes, '\0'));
}

#define REQUEST_USAGE \
	"      --delay-ms N       ask the server to wait N ms before replying\n" \
	"      --reply-bytes N    ask for N-byte reply payloads\n" \
	"      --count N          SayHellos: ask for N replies\n" \
	"      --addresses N      nested Address messages in the request's Person (default 2)\n" \
	"      --payload-bytes N  carry an N-byte payload the server ignores\n"

#define REQUEST_OPTIONS(base) \
	{ "delay-ms", required_argument, nullptr, (base) + 0 }, \
	{ "reply-bytes", required_argument, nullptr, (base) + 1 }, \
	{ "count", required_argument, nullptr, (base) + 2 }, \
	{ "addresses", required_argument, nullptr, (base) + 3 }, \
	{ "payload-bytes", required_argument, nullptr, (base) + 4 }

// Handles option c if it is one of REQUEST_OPTIONS(base): 1 taken, 0 not one, -1 bad value.
static inline int request_option(const char *prog, int c, int base, const char *arg, RequestFlags *f)
{
	static const struct { const char *name; unsigned max; unsigned RequestFlags::*field; } opts[] = {
		{ "delay-ms", 600000, &RequestFlags::delay_ms },
		{ "reply-bytes", 64u << 20, &RequestFlags::reply_bytes },
		{ "count", 1000000, &RequestFlags::count },
		{ "addresses", 100000, &RequestFlags::addresses },
		{ "payload-bytes", 64u << 20, &RequestFlags::payload_bytes },
	};
	int i = c - base;

	if (i < 0 || i >= (int)(sizeof(opts) / sizeof(opts[0])))
		return 0;
	return parse_uint(prog, opts[i].name, arg, opts[i].max, &(f->*opts[i].field)) ? 1 : -1;
}

#endif
