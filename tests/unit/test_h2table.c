/*
 * nghttp2's decoder table read back from memory (lib/h2table.c) with the layout
 * taken from the code of the libnghttp2 this test runs on, against a real
 * inflater of that library: the table rebuilt as of an earlier insertion
 * count decodes what the library decoded after it; evicted entries leave a
 * block undecodable, never misnamed; and request assembly names a joined
 * connection's waiting blocks from the table record.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include <linux/types.h>
#include "latscope.h"
#include "elfsym.h"
#include "h2table.h"
#include "hpack.h"
#include "requests.h"
#include "reqfinish.h"
#include "check.h"

static int rd_self(void *ctx, uint64_t addr, void *buf, size_t len)
{
	(void)ctx;
	memcpy(buf, (const void *)(uintptr_t)addr, len);
	return 0;
}

/* Every read of the context sees one more insertion: the table never holds still. */
static int rd_moving(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct ls_h2_layout *l = ctx;
	static uint32_t inserted;

	memcpy(buf, (const void *)(uintptr_t)addr, len);
	if (len >= l->seq_off + 4)
		(*(uint32_t *)((char *)buf + l->seq_off)) += ++inserted;
	return 0;
}

/* A block the library decodes; the :path it carried ("" when none). */
static int inflate(nghttp2_hd_inflater *inf, const uint8_t *b, size_t n, char *path, size_t size)
{
	path[0] = 0;
	while (n) {
		nghttp2_nv nv;
		int fl = 0;
		ssize_t k = nghttp2_hd_inflate_hd2(inf, &nv, &fl, b, n, 1);

		if (k < 0)
			return -1;
		b += k;
		n -= (size_t)k;
		if ((fl & NGHTTP2_HD_INFLATE_EMIT) && nv.namelen == 5 && !memcmp(nv.name, ":path", 5))
			snprintf(path, size, "%.*s", (int)nv.valuelen, nv.value);
		if (fl & NGHTTP2_HD_INFLATE_FINAL)
			break;
	}
	nghttp2_hd_inflate_end_headers(inf);
	return 0;
}

/* GET https, :path literal with incremental indexing (name index 4). */
static size_t block_literal_path(uint8_t *b, const char *path)
{
	size_t n = strlen(path), k = 0;

	b[k++] = 0x82;
	b[k++] = 0x87;
	b[k++] = 0x44;
	b[k++] = (uint8_t)n;
	memcpy(b + k, path, n);
	return k + n;
}

static uint32_t counter(nghttp2_hd_inflater *inf, const struct ls_h2_layout *l)
{
	return *(const uint32_t *)((const char *)inf + l->seq_off);
}

static void feed_hd(struct ls_reqs *r, __u64 conn, __u32 stream, const uint8_t *b, size_t n, unsigned int flags)
{
	static struct ls_headers h;
	struct ls_req_view v;

	memset(&h, 0, sizeof(h));
	h.type = LS_REC_HEADERS;
	h.pid = 42;
	h.conn = conn;
	h.stream = stream;
	h.flags = (__u16)(LS_HD_END | LS_HD_JOINED | flags);
	h.len = (__u32)n;
	memcpy(h.data, b, n);
	ls_reqs_feed(r, &h, offsetof(struct ls_headers, data) + n, &v);
}

/* A method that came back and is want. */
static int is(const char *method, const char *want)
{
	return method && !strcmp(method, want);
}

int main(void)
{
	static struct ls_h2table_rec t, t2;
	char why[128], err[256], path[64];
	struct ls_hpack_fields f;
	struct ls_h2_layout l;
	nghttp2_hd_inflater *inf;
	struct ls_hpack *dec;
	struct ls_req_view v;
	struct ls_reqs *r;
	struct ls_elf *e;
	uint8_t a[64], b[] = { 0x82, 0x87, 0xbe }; /* b: :path from the newest dynamic entry */
	size_t na;
	uint32_t s0, s1;
	uint64_t sess;
	pid_t self = getpid();
	Dl_info di;

	if (!dladdr((void *)nghttp2_hd_inflate_new, &di) || ls_elf_open(di.dli_fname, &e, err)) {
		CHECK(0, "open the libnghttp2 this test runs on");
		return 1;
	}
	CHECK(ls_h2_layout(e, &l, why, sizeof(why)) == 0, "layout of %s from its code: inflater at %#x, counter at "
	      "%#x, an entry's name and value at %#x (%s)", di.dli_fname, l.infl_off, l.seq_off, l.nv_off,
	      l.seq_off ? "ok" : why);
	ls_elf_free(e);

	/* The library decodes A (:path inserted), then B (:path indexed). */
	nghttp2_hd_inflate_new(&inf);
	sess = (uint64_t)(uintptr_t)inf - l.infl_off; /* as if the inflater sat in a session */
	na = block_literal_path(a, "/pkg.Service/Method");
	s0 = counter(inf, &l);
	inflate(inf, a, na, path, sizeof(path));
	s1 = counter(inf, &l);
	CHECK(s0 == 0 && s1 == 1, "the counter counts insertions: %u before A, %u after", s0, s1);
	inflate(inf, b, sizeof(b), path, sizeof(path));
	CHECK(!strcmp(path, "/pkg.Service/Method"), "the library names B from its table: %s", path);
	/* More insertions after B: the table read later still gives the one B started from. */
	na = block_literal_path(a, "/pkg.Service/Other");
	inflate(inf, a, na, path, sizeof(path));

	ls_h2_table(rd_self, NULL, sess, &l, s1, &t);
	CHECK(t.status == LS_H2T_OK && t.entries == 1 && t.table_max == 4096,
	      "the table as of B's start: %u entry (the later one left out), limit %u", t.entries, t.table_max);
	dec = ls_hpack_new();
	CHECK(ls_hpack_seed(dec, t.table_max, t.data, t.len) == 0 && ls_hpack_block(dec, b, sizeof(b), 1, &f) == 0 &&
	      (f.have & LS_HPACK_PATH) && !strcmp(f.path, "/pkg.Service/Method"),
	      "a decoder seeded with it names B as the library did: %s", f.path);
	ls_hpack_free(dec);
	ls_h2_table(ls_h2_read_pid, &self, sess, &l, s1, &t2);
	CHECK(t2.status == LS_H2T_OK && t2.len == t.len && !memcmp(t2.data, t.data, t.len),
	      "read through process_vm_readv: the same table");
	ls_h2_table(rd_self, NULL, sess, &l, s0, &t);
	dec = ls_hpack_new();
	CHECK(t.status == LS_H2T_OK && t.entries == 0 && ls_hpack_seed(dec, t.table_max, t.data, t.len) == 0 &&
	      ls_hpack_block(dec, b, sizeof(b), 1, &f) < 0,
	      "as of A's start the table is empty: B does not decode (unnamed, never misnamed)");
	ls_hpack_free(dec);
	ls_h2_table(rd_self, NULL, sess, &l, counter(inf, &l) + 1, &t);
	CHECK(t.status == LS_H2T_INVALID, "a counter ahead of the table's: not a table (%s)", ls_h2t_status_str(t.status));
	ls_h2_table(rd_moving, &l, sess, &l, s1, &t);
	CHECK(t.status == LS_H2T_CHANGING && t.len == 0, "a table that changes under every read: %s",
	      ls_h2t_status_str(t.status));
	ls_h2_table(rd_self, NULL, sess, &(struct ls_h2_layout){ 0 }, s1, &t);
	CHECK(t.status == LS_H2T_NO_LAYOUT, "no layout: %s", ls_h2t_status_str(t.status));

	/* Evicted: a limit that holds one entry, and a larger insertion after A pushes A's out. */
	nghttp2_hd_inflater *small;

	nghttp2_hd_inflate_new(&small);
	nghttp2_hd_inflate_change_table_size(small, 80);
	{
		uint8_t up[] = { 0x3f, 0x31 }; /* size update to 80 */
		uint8_t blk[80];
		size_t n = 0;

		memcpy(blk, up, sizeof(up));
		n = sizeof(up) + block_literal_path(blk + sizeof(up), "/x.S/A");
		inflate(small, blk, n, path, sizeof(path));
	}
	s1 = counter(small, &l);
	na = block_literal_path(a, "/x.S/B-longer-than-A");
	inflate(small, a, na, path, sizeof(path));
	ls_h2_table(rd_self, NULL, (uint64_t)(uintptr_t)small - l.infl_off, &l, s1, &t);
	dec = ls_hpack_new();
	CHECK(t.status == LS_H2T_OK && t.entries == 0 && t.table_max == 80 &&
	      ls_hpack_seed(dec, t.table_max, t.data, t.len) == 0 && ls_hpack_block(dec, b, sizeof(b), 1, &f) < 0,
	      "an entry evicted before the read is missing: the block that needs it does not decode");
	ls_hpack_free(dec);
	nghttp2_hd_inflate_del(small);

	/* Request assembly: a joined connection's block waits for the table record. */
	s1 = 1;
	ls_h2_table(rd_self, NULL, sess, &l, s1, &t);
	ls_reqs_new(&r);
	feed_hd(r, 0x9000, 5, b, sizeof(b), LS_HD_SEQWAIT);
	t.type = LS_REC_H2TABLE;
	t.pid = 42;
	t.conn = 0x9000;
	t.blocks = 1;
	ls_reqs_feed(r, &t, offsetof(struct ls_h2table_rec, data) + t.len, &v);
	CHECK(is(finish(r, 0x9000, 5, &v), "/pkg.Service/Method") && !strcmp(v.method_from, "hpack"),
	      "a block that waited is named from the table: %s", v.method);
	feed_hd(r, 0x9000, 7, b, sizeof(b), 0);
	CHECK(is(finish(r, 0x9000, 7, &v), "/pkg.Service/Method"), "and the connection's next blocks too");
	/* The kernel sent 2 blocks before the table; user space got 1: no match, no names. */
	feed_hd(r, 0xa000, 5, b, sizeof(b), LS_HD_SEQWAIT);
	t.conn = 0xa000;
	t.blocks = 2;
	ls_reqs_feed(r, &t, offsetof(struct ls_h2table_rec, data) + t.len, &v);
	CHECK(is(finish(r, 0xa000, 5, &v), "?") && v.method_reason && strstr(v.method_reason, "lost"),
	      "a lost header record: unnamed (%s)", v.method_reason ? v.method_reason : "no reason");
	/* A table that could not be read: the reason says so. */
	feed_hd(r, 0xb000, 5, b, sizeof(b), LS_HD_SEQWAIT);
	memset(&t2, 0, offsetof(struct ls_h2table_rec, data));
	t2.type = LS_REC_H2TABLE;
	t2.status = LS_H2T_UNREADABLE;
	t2.pid = 42;
	t2.conn = 0xb000;
	t2.blocks = 1;
	ls_reqs_feed(r, &t2, offsetof(struct ls_h2table_rec, data), &v);
	CHECK(is(finish(r, 0xb000, 5, &v), "?") && v.method_reason && strstr(v.method_reason, "could not be read"),
	      "an unreadable table: unnamed (%s)", v.method_reason ? v.method_reason : "no reason");
	{
		uint64_t used, failed;

		ls_reqs_tables(r, &used, &failed);
		CHECK(used == 1 && failed == 2, "tables counted: %llu used, %llu not", (unsigned long long)used,
		      (unsigned long long)failed);
	}
	ls_reqs_free(r);
	nghttp2_hd_inflate_del(inf);
	return failures ? 1 : 0;
}
