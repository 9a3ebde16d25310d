#include "perfmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ent {
	uint64_t start, size;
	uint32_t seq;  /* line order: a later entry for the same code wins */
	uint32_t name; /* offset in names */
};

struct ls_perfmap {
	struct ent *v;
	size_t n, cap;
	char *names;
	size_t nnames, capnames;
	size_t bad;
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A hex number at *p (optional 0x), at most 16 digits; advances *p. 0 or -1. */
static int parse_hex(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int digits = 0;

	if (end - s > 2 && s[0] == '0' && (s[1] | 0x20) == 'x')
		s += 2;
	for (; s < end && hexval((unsigned char)*s) >= 0; s++) {
		if (++digits > 16)
			return -1;
		v = v << 4 | (uint64_t)hexval((unsigned char)*s);
	}
	if (!digits)
		return -1;
	*p = s;
	*out = v;
	return 0;
}

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 256;
	void *nv;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	if (!(nv = realloc(*v, ncap * elem)))
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

/* One line, without its newline. 1 when kept, 0 when not readable, -ENOMEM. */
static int parse_line(struct ls_perfmap *pm, const char *s, const char *end, uint32_t seq)
{
	uint64_t start, size;
	size_t nlen;
	struct ent *e;

	if (parse_hex(&s, end, &start) || s == end || (*s != ' ' && *s != '\t'))
		return 0;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (parse_hex(&s, end, &size) || !size || start + size < start || s == end || (*s != ' ' && *s != '\t'))
		return 0;
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (s == end || pm->n == LS_PERFMAP_MAX)
		return 0;
	nlen = (size_t)(end - s) < LS_PERFMAP_NAME ? (size_t)(end - s) : LS_PERFMAP_NAME;
	if (pm->nnames + nlen + 1 > UINT32_MAX || grow((void **)&pm->v, &pm->cap, pm->n + 1, sizeof(*pm->v)) ||
	    grow((void **)&pm->names, &pm->capnames, pm->nnames + nlen + 1, 1))
		return -ENOMEM;
	e = &pm->v[pm->n++];
	e->start = start;
	e->size = size;
	e->seq = seq;
	e->name = (uint32_t)pm->nnames;
	/* Names reach terminals and files: no control characters. */
	for (size_t i = 0; i < nlen; i++) {
		unsigned char c = (unsigned char)s[i];

		pm->names[pm->nnames++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	pm->names[pm->nnames++] = '\0';
	return 1;
}

static int by_start(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort by start; of entries starting at one address only the latest stays. */
static void index_entries(struct ls_perfmap *pm)
{
	size_t k = 0;

	if (pm->n)
		qsort(pm->v, pm->n, sizeof(*pm->v), by_start);
	for (size_t i = 0; i < pm->n; i++) {
		if (k && pm->v[k - 1].start == pm->v[i].start)
			k--;
		pm->v[k++] = pm->v[i];
	}
	pm->n = k;
}

int ls_perfmap_parse(const char *buf, size_t len, struct ls_perfmap **out)
{
	struct ls_perfmap *pm = calloc(1, sizeof(*pm));
	const char *p = buf, *end = buf + len;
	uint32_t seq = 0;

	*out = NULL;
	if (!pm)
		return -ENOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
		int r = parse_line(pm, p, le, seq++);

		if (r < 0) {
			ls_perfmap_free(pm);
			return r;
		}
		if (!r && le > p)
			pm->bad++;
		p = nl ? nl + 1 : end;
	}
	index_entries(pm);
	*out = pm;
	return 0;
}

void ls_perfmap_free(struct ls_perfmap *pm)
{
	if (!pm)
		return;
	free(pm->v);
	free(pm->names);
	free(pm);
}

/* Entries overlapping one address are at most this far before the last start below it. */
#define OVERLAP_SCAN 16

const char *ls_perfmap_lookup(const struct ls_perfmap *pm, uint64_t addr, uint64_t *start)
{
	size_t lo = 0, hi = pm->n;
	const struct ent *best = NULL;

	/* The first entry starting past addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pm->v[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo, k = 0; i-- > 0 && k < OVERLAP_SCAN; k++) {
		const struct ent *e = &pm->v[i];

		if (addr - e->start < e->size && (!best || e->seq > best->seq))
			best = e;
	}
	if (!best)
		return NULL;
	*start = best->start;
	return pm->names + best->name;
}

size_t ls_perfmap_count(const struct ls_perfmap *pm)
{
	return pm->n;
}

size_t ls_perfmap_bad(const struct ls_perfmap *pm)
{
	return pm->bad;
}

/* The pid of pid in its own namespace (the last NSpid field), or pid itself. */
static pid_t ns_pid(pid_t pid)
{
	char path[64], line[256];
	pid_t ns = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "re")))
		return pid;
	while (fgets(line, sizeof(line), f)) {
		char *p, *tok, *save = NULL;

		if (strncmp(line, "NSpid:", 6))
			continue;
		for (p = line + 6; (tok = strtok_r(p, " \t\n", &save)); p = NULL)
			ns = (pid_t)atoi(tok);
		break;
	}
	fclose(f);
	return ns > 0 ? ns : pid;
}

/* Open one candidate: a regular file of the target's user or root, read whole up to the bound. */
static int read_map(const char *path, uid_t owner, struct ls_perfmap **out, char *reason, size_t len)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), ret = 0;
	size_t got = 0, want;
	struct stat st;
	char *buf = NULL;

	if (fd < 0) {
		ret = -errno;
		snprintf(reason, len, "%s: %s", path, errno == ELOOP ? "a symbolic link, not followed" : strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (st.st_uid != owner && st.st_uid != 0)) {
		snprintf(reason, len, "%s: not a regular file of the target's user or root: not read", path);
		ret = -EPERM;
		goto cleanup;
	}
	want = (uint64_t)st.st_size < LS_PERFMAP_BYTES ? (size_t)st.st_size : LS_PERFMAP_BYTES;
	if (!(buf = malloc(want ? want : 1))) {
		ret = -ENOMEM;
		goto cleanup;
	}
	while (got < want) {
		ssize_t r = read(fd, buf + got, want - got);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	/* A line being written as we read is cut: it counts as unreadable, the next read has it. */
	ret = ls_perfmap_parse(buf, got, out);
	if (!ret && (uint64_t)st.st_size > got)
		(*out)->bad++;
cleanup:
	free(buf);
	close(fd);
	return ret;
}

int ls_perfmap_load(pid_t pid, struct ls_perfmap **out, char *path, char *reason, size_t len)
{
	char dir[64];
	struct stat st;
	pid_t ns = ns_pid(pid);
	int ret;

	*out = NULL;
	snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	if (stat(dir, &st)) {
		snprintf(reason, len, "process gone");
		return -ESRCH;
	}
	snprintf(path, len, "/proc/%d/root/tmp/perf-%d.map", (int)pid, (int)ns);
	ret = read_map(path, st.st_uid, out, reason, len);
	if (ret != -ENOENT)
		return ret;
	/* Without access to its root (or its /tmp is ours): the host's /tmp, by the host's pid. */
	snprintf(path, len, "/tmp/perf-%d.map", (int)pid);
	ret = read_map(path, st.st_uid, out, reason, len);
	if (ret == -ENOENT)
		snprintf(reason, len, "no %s (a JIT writes it when asked: node --perf-basic-prof, a Java perf map agent)",
			 path);
	return ret;
}
