/*
 * The phases of a request, one table: name, legend letter, colour, the probe
 * group that measures it, and what it means. Everything that names, orders,
 * colours or explains a phase reads it (the enum itself is in the ABI
 * header, bpf/latscope.h, because the kernel side fills the phases).
 */
#ifndef LS_PHASE_H
#define LS_PHASE_H

#include <stddef.h>

#include <linux/types.h>
#include "latscope.h"

/* A colour by name; the terminal layer maps it to its own. */
enum ls_colour {
	LS_COLOUR_NONE = 0,
	LS_COLOUR_BLUE,
	LS_COLOUR_MAGENTA,
	LS_COLOUR_CYAN,
	LS_COLOUR_YELLOW,
	LS_COLOUR_GREEN,
	LS_COLOUR_RED,
};

struct ls_phase_info {
	enum ls_phase id;
	const char *name;     /* "net_in" */
	char letter;          /* the phase bar's letter: 'n' */
	enum ls_colour colour; /* in and out of one layer share a colour; the letter tells them apart */
	unsigned int group;   /* the LS_PHASES_* probes that measure it (0: none, the remainder) */
	const char *help;     /* one line: what it measures */
};

/* The phases in request order; *n receives LS_PHASE_COUNT. */
const struct ls_phase_info *ls_phases(size_t *n);
/* One phase; NULL when phase is out of range. */
const struct ls_phase_info *ls_phase_info(unsigned int phase);

/* Name of a phase ("net_in", "app", ...); "total" for LS_PH_TOTAL, "?" when unknown. */
const char *ls_phase_name(unsigned int phase);
/* The phase bar's letter; '?' when unknown. */
char ls_phase_letter(unsigned int phase);

/* Probe groups (the catalog's phase column, --phases): "tls", "h2", "proto", "net". */
#define LS_PHASES_TLS   (1u << 0)
#define LS_PHASES_H2    (1u << 1)
#define LS_PHASES_PROTO (1u << 2)
#define LS_PHASES_NET   (1u << 3)
#define LS_PHASES_ALL   0xfu

/* Parse "tls,h2,proto,net" (any subset, or "all"). 0 or -EINVAL. */
int ls_phases_parse(const char *s, unsigned int *out);
/* The LS_PHASES_* bit of a catalog phase name ("tls" ...); 0 when unknown. */
unsigned int ls_phase_group(const char *phase);

#endif
