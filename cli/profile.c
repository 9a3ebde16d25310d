#include "profile.h"
#include "catalog.h"
#include "flamegraph.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int lines_add(struct profile *l, char *stack, uint64_t value)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 1024;
		struct profile_line *nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n].stack = stack;
	l->v[l->n].value = value;
	l->n++;
	return 0;
}

static int by_stack(const void *a, const void *b)
{
	return strcmp(((const struct profile_line *)a)->stack, ((const struct profile_line *)b)->stack);
}

/* Append one frame name, with the folded format's separators made safe. */
static void put_frame(char **buf, size_t *len, size_t *cap, const char *name, const char *suffix)
{
	size_t need = strlen(name) + strlen(suffix) + 2;

	if (*len + need >= *cap) {
		size_t ncap = (*cap + need) * 2;
		char *nb = realloc(*buf, ncap);

		if (!nb)
			return;
		*buf = nb;
		*cap = ncap;
	}
	if (*len)
		(*buf)[(*len)++] = ';';
	for (const char *p = name; *p; p++)
		(*buf)[(*len)++] = (*p == ';' || *p == '\n' || *p == ' ') ? '_' : *p;
	for (const char *p = suffix; *p; p++)
		(*buf)[(*len)++] = *p;
	(*buf)[*len] = '\0';
}

static void frame_name(const struct procsym_frame *f, char *out, size_t len)
{
	const char *mod = f->module ? strrchr(f->module, '/') : NULL;

	if (f->func)
		snprintf(out, len, "%s", f->func);
	else
		snprintf(out, len, "[unknown in %s]", mod ? mod + 1 : f->module ? f->module : "?");
}

/* Root-first folded stack for one aggregated sample; NULL when it has no frames at all. */
static char *fold(profile_stack_fn stack, void *ctx, struct procsym *ps, const struct ls_stack_sample *smp,
		  const struct profile_opts *o, int offcpu)
{
	uint64_t uips[LS_STACK_DEPTH], kips[LS_STACK_DEPTH];
	struct procsym_frame uf[LS_STACK_DEPTH], kf[LS_STACK_DEPTH];
	size_t nu = 0, nk = 0, len = 0, cap = 256;
	char *buf = malloc(cap), name[512];

	if (!buf)
		return NULL;
	buf[0] = '\0';
	if (stack(ctx, smp->key.ustack, uips, LS_STACK_DEPTH, &nu))
		nu = 0;
	if (stack(ctx, smp->key.kstack, kips, LS_STACK_DEPTH, &nk))
		nk = 0;
	if (nu)
		procsym_user(ps, (pid_t)smp->key.pid, uips, nu, uf);
	if (nk)
		procsym_kernel(ps, kips, nk, kf);
	if (offcpu)
		put_frame(&buf, &len, &cap, "[off-cpu]", "");
	if (o->by_phase) {
		snprintf(name, sizeof(name), "[phase:%s]",
			 smp->key.phase < LS_PHASE_COUNT ? ls_phase_name(smp->key.phase) : "none");
		put_frame(&buf, &len, &cap, name, "");
	}
	if (!nu && !nk)
		put_frame(&buf, &len, &cap, "[no stack]", "");
	for (size_t i = nu; i-- > 0;) {
		frame_name(&uf[i], name, sizeof(name));
		put_frame(&buf, &len, &cap, name, "");
	}
	/* The innermost kernel frames of a sched_switch stack are the tracing machinery itself. */
	while (nk && kf[0].func && (!strncmp(kf[0].func, "bpf_", 4) || !strncmp(kf[0].func, "__bpf_", 6))) {
		memmove(kf, kf + 1, (nk - 1) * sizeof(*kf));
		nk--;
	}
	for (size_t i = nk; i-- > 0;) {
		frame_name(&kf[i], name, sizeof(name));
		put_frame(&buf, &len, &cap, name, "_[k]");
	}
	return buf;
}

int profile_add(struct profile *out, const struct ls_stack_sample *v, size_t n, int offcpu, profile_stack_fn stack,
		void *ctx, struct procsym *ps, const struct profile_opts *o, uint64_t *total)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t value = offcpu ? v[i].value / 1000 : v[i].value; /* off-CPU weight: microseconds */
		char *line;

		if (o->only_slow && !v[i].key.slow)
			continue;
		if (!value)
			continue;
		line = fold(stack, ctx, ps, &v[i], o, offcpu);
		if (!line || lines_add(out, line, value)) {
			free(line);
			return -ENOMEM;
		}
		*total += value;
	}
	return 0;
}

/* Identical stacks (different stack ids, same names) merge into one line. */
size_t profile_merge(struct profile *l)
{
	size_t k = 0;

	qsort(l->v, l->n, sizeof(*l->v), by_stack);
	for (size_t i = 0; i < l->n; i++) {
		if (k && !strcmp(l->v[k - 1].stack, l->v[i].stack)) {
			l->v[k - 1].value += l->v[i].value;
			free(l->v[i].stack);
			continue;
		}
		l->v[k++] = l->v[i];
	}
	l->n = k;
	return k;
}

int profile_write_folded(FILE *f, const struct profile *l)
{
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s %llu\n", l->v[i].stack, (unsigned long long)l->v[i].value);
	return ferror(f) ? -EIO : 0;
}


int profile_write_svg(FILE *f, const struct profile *l, const char *title, const char *subtitle, const char *unit)
{
	struct ls_flame_opts fo = { .sz = sizeof(fo), .title = title, .subtitle = subtitle, .unit = unit };
	struct ls_folded *fl = calloc(l->n ? l->n : 1, sizeof(*fl));
	int ret;

	if (!fl)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		fl[i].stack = l->v[i].stack;
		fl[i].value = l->v[i].value;
	}
	ret = ls_flamegraph_write(f, fl, l->n, &fo);
	free(fl);
	return ret;
}

void profile_clear(struct profile *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].stack);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
