/* The tables that name things (phases, probes, features) cover every value of their enums. */
#include <string.h>

#include "catalog.h"
#include "feature.h"
#include "phase.h"
#include "check.h"

int main(void)
{
	const struct ls_catalog_entry *cat;
	const struct ls_phase_info *ph;
	size_t n, ncat;
	int bad = 0;

	ph = ls_phases(&n);
	CHECK(n == LS_PHASE_COUNT, "the phase table has a row per phase (%zu of %d)", n, LS_PHASE_COUNT);
	for (size_t i = 0; i < n; i++) {
		int dup = 0;

		for (size_t j = 0; j < i; j++)
			dup |= ph[j].letter == ph[i].letter || !strcmp(ph[j].name, ph[i].name);
		if (ph[i].id != i || !ph[i].name || !ph[i].name[0] || !ph[i].help || !ph[i].letter || dup ||
		    ls_phase_info((unsigned)i) != &ph[i] || strcmp(ls_phase_name((unsigned)i), ph[i].name))
			bad++;
	}
	CHECK(bad == 0, "every phase row in enum order, with a unique name and letter and a help line (%d bad)", bad);
	CHECK(!strcmp(ls_phase_name(LS_PH_TOTAL), "total") && !strcmp(ls_phase_name(LS_PH_SLOTS), "?"),
	      "total and out-of-range phases named");
	bad = 0;
	for (unsigned int p = 0; p < LS_PROBE_COUNT; p++)
		bad += !strcmp(ls_probe_name(p), "?");
	CHECK(bad == 0, "every probe id has a name (%d without)", bad);
	cat = ls_catalog(&ncat);
	bad = 0;
	for (size_t i = 0; i < ncat; i++)
		bad += cat[i].probe >= LS_PROBE_COUNT || (!ls_phase_group(cat[i].phase) && strcmp(cat[i].phase, "app") && strcmp(cat[i].phase, "grpc"));
	/* "app" and "grpc" entries name and bind requests: they belong to no --phases group and always stay. */
	CHECK(bad == 0, "every catalog entry has a probe id and a known phase group (%d bad)", bad);
	CHECK(ls_probe_is_handshake(LS_PROBE_SSL_DO_HANDSHAKE) && ls_probe_is_handshake(LS_PROBE_GO_TLS_HANDSHAKE) &&
	      !ls_probe_is_handshake(LS_PROBE_SSL_READ), "handshake probes come from the catalog's kinds");
	bad = 0;
	for (int f = 0; f < LS_FEAT_COUNT; f++) {
		enum ls_feature back;

		bad += !strcmp(ls_feature_name((enum ls_feature)f), "none") || !ls_feature_what((enum ls_feature)f)[0] ||
		       ls_feature_parse(ls_feature_name((enum ls_feature)f), &back) || back != (enum ls_feature)f;
	}
	CHECK(bad == 0, "every feature group has a name that parses back and a description (%d bad)", bad);
	return failures ? 1 : 0;
}
