#include "session.h"

#include <errno.h>
#include <string.h>

static const struct { const char *name; unsigned int bit; } groups[] = {
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
