#include "gooffsets.h"
#include "elfsym.h"
#include "util.h"

#include <elfutils/libdw.h>
#include <dwarf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* One field the probes read: struct, member ("" = the struct's size), where it goes; an optional one may be missing (0). */
static const struct want {
	const char *type, *member;
	size_t at;
	int optional;
} wants[] = {
	{ "google.golang.org/grpc/internal/transport.Stream", "id", offsetof(struct ls_go_offsets, stream_id), 0 },
	{ "google.golang.org/grpc/internal/transport.Stream", "st", offsetof(struct ls_go_offsets, stream_st), 0 },
	{ "google.golang.org/grpc/internal/transport.Stream", "method", offsetof(struct ls_go_offsets, stream_method), 0 },
	{ "golang.org/x/net/http2.MetaHeadersFrame", "HeadersFrame", offsetof(struct ls_go_offsets, mhf_headers), 0 },
	{ "golang.org/x/net/http2.MetaHeadersFrame", "Fields", offsetof(struct ls_go_offsets, mhf_fields), 0 },
	{ "golang.org/x/net/http2.HeadersFrame", "FrameHeader", offsetof(struct ls_go_offsets, hf_frame_header), 0 },
	{ "golang.org/x/net/http2.FrameHeader", "StreamID", offsetof(struct ls_go_offsets, fh_stream_id), 0 },
	{ "golang.org/x/net/http2/hpack.HeaderField", "", offsetof(struct ls_go_offsets, field_size), 0 },
	{ "golang.org/x/net/http2/hpack.HeaderField", "Name", offsetof(struct ls_go_offsets, field_name), 0 },
	{ "golang.org/x/net/http2/hpack.HeaderField", "Value", offsetof(struct ls_go_offsets, field_value), 0 },
	{ "google.golang.org/grpc/internal/transport.http2Server", "conn", offsetof(struct ls_go_offsets, h2s_conn), 1 },
};
#define NWANTS (sizeof(wants) / sizeof(wants[0]))

/*
 * Known layouts. grpc-go's transport.Stream and x/net's frame types change
 * rarely; a row covers the grpc-go minor version it was read from (DWARF of
 * a build with Debian 12's packages: Go 1.19, grpc-go 1.33.3, x/net 0.7).
 */
static const struct row {
	const char *grpc;      /* grpc-go version prefix ("v1.33.") */
	const char *go_prefix; /* Go versions with this layout ("go1.") */
	int debian_default;    /* the layout of the Debian packages, assumed when the build info has no version */
	struct ls_go_offsets off;
} rows[] = {
	{ "v1.33.", "go1.", 1, { .stream_id = 0, .stream_st = 8, .stream_method = 72, .mhf_headers = 0,
				  .mhf_fields = 8, .hf_frame_header = 0, .fh_stream_id = 8, .field_size = 40,
				  .field_name = 0, .field_value = 16, .h2s_conn = 32 } },
};

static int member_offset(Dwarf_Die *die, Dwarf_Word *off)
{
	Dwarf_Attribute a;

	if (!dwarf_attr(die, DW_AT_data_member_location, &a))
		return -1;
	return dwarf_formudata(&a, off) == 0 ? 0 : -1;
}

int ls_go_offsets_dwarf(const char *path, struct ls_go_offsets *out, char *err)
{
	unsigned int found = 0;
	Dwarf_Off cu = 0, next;
	size_t hsize;
	Dwarf *dw = NULL;
	int fd, ret = 0;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ls_err(err, errno, "%s: %s", path, strerror(errno));
	dw = dwarf_begin(fd, DWARF_C_READ);
	if (!dw) {
		ret = ls_err(err, ENOENT, "%s: no DWARF", path);
		goto cleanup;
	}
	/* Go writes its types as top-level entries of each compilation unit. */
	while (found != (1u << NWANTS) - 1 && dwarf_nextcu(dw, cu, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cud, die;

		if (!dwarf_offdie(dw, cu + hsize, &cud) || dwarf_child(&cud, &die) != 0) {
			cu = next;
			continue;
		}
		do {
			const char *name;

			if (dwarf_tag(&die) != DW_TAG_structure_type || !(name = dwarf_diename(&die)))
				continue;
			for (size_t w = 0; w < NWANTS; w++) {
				Dwarf_Die m;
				Dwarf_Word off;

				if ((found & (1u << w)) || strcmp(wants[w].type, name))
					continue;
				if (!wants[w].member[0]) {
					int sz = dwarf_bytesize(&die);

					if (sz > 0) {
						*(__u32 *)((char *)out + wants[w].at) = (__u32)sz;
						found |= 1u << w;
					}
					continue;
				}
				if (dwarf_child(&die, &m) != 0)
					continue;
				do {
					const char *mn = dwarf_diename(&m);

					if (dwarf_tag(&m) == DW_TAG_member && mn && !strcmp(mn, wants[w].member) &&
					    member_offset(&m, &off) == 0) {
						*(__u32 *)((char *)out + wants[w].at) = (__u32)off;
						found |= 1u << w;
						break;
					}
				} while (dwarf_siblingof(&m, &m) == 0);
			}
		} while (dwarf_siblingof(&die, &die) == 0);
		cu = next;
	}
	for (size_t w = 0; w < NWANTS && !ret; w++)
		if (!(found & (1u << w)) && !wants[w].optional)
			ret = ls_err(err, ENOENT, "%s: DWARF has no %s%s%s", path, wants[w].type,
				     wants[w].member[0] ? "." : "", wants[w].member);
cleanup:
	if (dw)
		dwarf_end(dw);
	close(fd);
	return ret;
}

int ls_go_offsets_table(const char *go_version, const char *grpc_version, struct ls_go_offsets *out, char *what,
			size_t what_len, char *err)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];

		if (strncmp(go_version, r->go_prefix, strlen(r->go_prefix)))
			continue;
		if (grpc_version[0] ? strncmp(grpc_version, r->grpc, strlen(r->grpc)) != 0 : !r->debian_default)
			continue;
		*out = r->off;
		if (grpc_version[0])
			snprintf(what, what_len, "table: grpc-go %s", grpc_version);
		else
			snprintf(what, what_len, "table: grpc-go %sx of Debian 12 (build info records no module versions)",
				 r->grpc + 1);
		return 0;
	}
	return ls_err(err, ENOENT, "no DWARF, and no known struct layout for grpc-go %s with %s",
		      grpc_version[0] ? grpc_version : "(version not recorded)", go_version);
}

int ls_go_offsets(const char *path, const struct ls_elf *e, struct ls_go_offsets *out, char *source,
		  size_t source_len, char *err)
{
	char gov[32] = "", grpcv[64] = "", e2[LS_ERR_LEN];

	if (ls_go_offsets_dwarf(path, out, e2) == 0) {
		snprintf(source, source_len, "DWARF");
		return 0;
	}
	ls_elf_go_version(e, gov, sizeof(gov));
	ls_elf_go_dep_version(e, "google.golang.org/grpc", grpcv, sizeof(grpcv));
	return ls_go_offsets_table(gov, grpcv, out, source, source_len, err);
}
