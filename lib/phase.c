#include "phase.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

static const struct ls_phase_info phases[LS_PHASE_COUNT] = {
	{ LS_PH_NET_IN, "net_in", 'n', LS_COLOUR_BLUE, LS_PHASES_NET,
	  "kernel TCP receive inside the TLS reads that carried the request" },
	{ LS_PH_TLS_IN, "tls_in", 't', LS_COLOUR_MAGENTA, LS_PHASES_TLS, "TLS reads (decryption), less their kernel time" },
	{ LS_PH_H2_IN, "h2_in", 'h', LS_COLOUR_CYAN, LS_PHASES_H2, "the HTTP/2 library processing the request's frames" },
	{ LS_PH_DECODE, "decode", 'd', LS_COLOUR_YELLOW, LS_PHASES_PROTO, "protobuf decode of the request message" },
	{ LS_PH_APP, "app", 'a', LS_COLOUR_GREEN, 0, "the remainder: the application's own time" },
	{ LS_PH_ENCODE, "encode", 'e', LS_COLOUR_YELLOW, LS_PHASES_PROTO, "protobuf encode of the response" },
	{ LS_PH_H2_OUT, "h2_out", 'H', LS_COLOUR_CYAN, LS_PHASES_H2, "the HTTP/2 library framing the response" },
	{ LS_PH_TLS_OUT, "tls_out", 'T', LS_COLOUR_MAGENTA, LS_PHASES_TLS, "TLS writes (encryption), less their kernel time" },
	{ LS_PH_NET_OUT, "net_out", 'N', LS_COLOUR_BLUE, LS_PHASES_NET, "kernel TCP send of the response" },
	{ LS_PH_QUEUE, "queue", 'q', LS_COLOUR_RED, LS_PHASES_NET,
	  "time the request's bytes waited in the socket before the server read them" },
};

const struct ls_phase_info *ls_phases(size_t *n)
{
	*n = LS_PHASE_COUNT;
	return phases;
}

const struct ls_phase_info *ls_phase_info(unsigned int phase)
{
	return phase < LS_PHASE_COUNT ? &phases[phase] : NULL;
}

const char *ls_phase_name(unsigned int phase)
{
	if (phase == LS_PH_TOTAL)
		return "total";
	return phase < LS_PHASE_COUNT ? phases[phase].name : "?";
}

char ls_phase_letter(unsigned int phase)
{
	return phase < LS_PHASE_COUNT ? phases[phase].letter : '?';
}

static const struct {
	const char *name;
	unsigned int bit;
} groups[] = {
	{ "tls", LS_PHASES_TLS }, { "h2", LS_PHASES_H2 }, { "proto", LS_PHASES_PROTO }, { "net", LS_PHASES_NET },
};

unsigned int ls_phase_group(const char *phase)
{
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		if (!strcmp(phase, groups[i].name))
			return groups[i].bit;
	return 0;
}

int ls_phases_parse(const char *s, unsigned int *out)
{
	unsigned int m = 0;

	if (!strcmp(s, "all")) {
		*out = LS_PHASES_ALL;
		return 0;
	}
	while (*s) {
		size_t len = strcspn(s, ",");
		unsigned int bit = 0;

		for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
			if (strlen(groups[i].name) == len && !strncmp(s, groups[i].name, len))
				bit = groups[i].bit;
		if (!bit)
			return -EINVAL;
		m |= bit;
		s += len + (s[len] == ',');
	}
	if (!m)
		return -EINVAL;
	*out = m;
	return 0;
}
