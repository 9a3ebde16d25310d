/*
 * The struct-offset table against DWARF: the row the table picks for the
 * example Go gRPC server (built from Debian's grpc-go, x/net and Go) must
 * equal what the unstripped build's DWARF says, field by field; the stripped
 * build has no DWARF and must fall back to that row; unknown versions are
 * refused with a reason.
 */
#include "elfsym.h"
#include "gooffsets.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "check.h"

#define BIN "build/examples/gogrpc-server"
#define STRIPPED "build/examples/gogrpc-server-stripped"



static const struct { const char *name; size_t at; } fields[] = {
#define F(x) { #x, offsetof(struct ls_go_offsets, x) }
	F(stream_id), F(stream_st), F(stream_method), F(mhf_headers), F(mhf_fields), F(hf_frame_header),
	F(fh_stream_id), F(field_size), F(field_name), F(field_value), F(h2s_conn),
#undef F
};

static __u32 field(const struct ls_go_offsets *o, size_t i)
{
	__u32 v;

	memcpy(&v, (const char *)o + fields[i].at, sizeof(v));
	return v;
}

int main(void)
{
	struct ls_go_offsets dw, tab, got;
	char err[LS_ERR_LEN], what[128], gov[32] = "", src[96];
	struct ls_elf *e = NULL;

	CHECK(sizeof(fields) / sizeof(fields[0]) * 4 == sizeof(struct ls_go_offsets), "a field of ls_go_offsets is not checked");
	CHECK(ls_go_offsets_dwarf(BIN, &dw, err) == 0, "%s", err);
	CHECK(ls_elf_open(BIN, &e, err) == 0, "%s", err);
	if (e) {
		ls_elf_go_version(e, gov, sizeof(gov));
		ls_elf_free(e);
		e = NULL;
	}
	/* A GOPATH build records no module versions: the table's Debian row is the one used. */
	CHECK(ls_go_offsets_table(gov, "", &tab, what, sizeof(what), err) == 0, "%s: %s", gov, err);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		printf("%-16s DWARF %3u  table %3u\n", fields[i].name, field(&dw, i), field(&tab, i));
		CHECK(field(&dw, i) == field(&tab, i), "%s: DWARF %u, table (%s) %u", fields[i].name, field(&dw, i), what,
		      field(&tab, i));
	}
	CHECK(ls_go_offsets_table(gov, "v1.33.3", &got, what, sizeof(what), err) == 0 && !memcmp(&got, &tab, sizeof(got)),
	      "grpc-go v1.33.3 not matched to its row: %s", err);
	CHECK(ls_go_offsets_table(gov, "v1.60.0", &got, what, sizeof(what), err) == -ENOENT && strstr(err, "v1.60.0"),
	      "an unknown grpc-go version was given offsets (%s)", what);

	CHECK(ls_go_offsets_dwarf(STRIPPED, &got, err) == -ENOENT, "stripped build: DWARF found?");
	CHECK(ls_elf_open(STRIPPED, &e, err) == 0, "%s", err);
	if (e) {
		CHECK(ls_go_offsets(STRIPPED, e, &got, src, sizeof(src), err) == 0 && !memcmp(&got, &dw, sizeof(got)) &&
		      !strncmp(src, "table: ", 7), "stripped build: %s %s", src, err);
		printf("stripped build: offsets from %s\n", src);
		ls_elf_free(e);
	}
	if (failures)
		return 1;
	printf("ok - Go struct offsets: the version table equals DWARF for every field; the stripped build uses it\n");
	return 0;
}
