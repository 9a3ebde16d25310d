/*
 * record's post-processing at scale: N synthetic samples (default 1M) with
 * realistic stacks -- real function addresses of libc, libssl and libcrypto
 * as mapped in this process, shared prefixes, depths 8..48, a skewed
 * popularity -- go through the path a --call-graph dwarf record takes after
 * unwinding: aggregation by stack (lib/ustacks), symbolization (the
 * symbolizer record uses, this process's mappings read beforehand as record
 * reads the target's before sampling) and folding (cli/profile, record's own
 * code), merge, SVG flame graph. Prints the time of each step and the peak
 * resident memory.
 * usage: profile_post NAMES-FILE OUT.svg [SAMPLES]
 */
#include "profile.h"
#include "symbolizer.h"
#include "ustacks.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define NSTACKS 40000
#define MINDEPTH 8
#define MAXDEPTH 48

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int ustore_stack(void *ctx, int32_t id, uint64_t *ips, size_t max, size_t *n)
{
	return ls_ustore_stack(ctx, id, ips, max, n);
}

int main(int argc, char **argv)
{
	size_t nsamples = argc > 3 ? strtoull(argv[3], NULL, 10) : 1000000, nfn = 0, capfn = 4096, nagg = 0;
	uint64_t *fns = malloc(capfn * sizeof(*fns)), *stacks = calloc((size_t)NSTACKS * MAXDEPTH, sizeof(uint64_t));
	uint8_t *depth = calloc(NSTACKS, 1);
	struct ls_stack_sample *agg = NULL;
	struct profile prof = { 0 };
	struct profile_opts po = { 0 };
	struct ls_ustore *st = ls_ustore_new();
	struct ls_symbolizer *sym = NULL;
	struct rusage ru;
	char name[512];
	uint64_t total = 0;
	double t0, t1, t2, t3, t4;
	FILE *names, *out;
	void *libs[2];

	if (argc < 3 || !fns || !stacks || !depth || !st || ls_symbolizer_new(NULL, &sym)) {
		fprintf(stderr, "usage: profile_post NAMES-FILE OUT.svg [SAMPLES]\n");
		return 2;
	}
	libs[0] = dlopen("libssl.so.3", RTLD_NOW);
	libs[1] = dlopen("libcrypto.so.3", RTLD_NOW);
	if (!(names = fopen(argv[1], "r"))) {
		perror(argv[1]);
		return 1;
	}
	while (fscanf(names, "%511s", name) == 1) {
		void *a = dlsym(RTLD_DEFAULT, name);

		for (int i = 0; !a && i < 2; i++)
			a = libs[i] ? dlsym(libs[i], name) : NULL;
		if (!a)
			continue;
		if (nfn == capfn)
			fns = realloc(fns, (capfn *= 2) * sizeof(*fns));
		fns[nfn++] = (uint64_t)a;
	}
	fclose(names);
	if (nfn < 100) {
		fprintf(stderr, "profile_post: only %zu functions found from %s\n", nfn, argv[1]);
		return 1;
	}
	if (ls_symbolizer_add_process(sym, getpid())) {
		fprintf(stderr, "profile_post: reading own mappings: %s\n", ls_symbolizer_error(sym));
		return 1;
	}
	/*
	 * A stack's frame i is a function picked from its frame i-1 and a small
	 * branching choice, so stacks share prefixes as call trees do; return
	 * addresses land a little inside each function.
	 */
	for (size_t s = 0; s < NSTACKS; s++) {
		uint64_t h = 1469598103934665603ull;
		int d = MINDEPTH + (int)(next() % (MAXDEPTH - MINDEPTH + 1));

		depth[s] = (uint8_t)d;
		for (int i = d - 1; i >= 0; i--) {
			h = (h ^ (next() % (i > d - 4 ? 2 : 4))) * 1099511628211ull;
			stacks[s * MAXDEPTH + (size_t)i] = fns[h % nfn] + 1 + (h >> 40) % 64;
		}
	}
	t0 = now();
	for (size_t i = 0; i < nsamples; i++) {
		/* Skewed popularity: a few hot stacks, a long tail. */
		double u = (double)(next() >> 11) / 9007199254740992.0;
		size_t s = (size_t)(u * u * u * NSTACKS);
		struct ls_sample_key key = { .pid = (uint32_t)getpid(), .kstack = -1, .phase = (uint8_t)(next() % 3) };

		if (ls_ustore_count(st, &key, &stacks[s * MAXDEPTH], depth[s], 1)) {
			fprintf(stderr, "profile_post: out of memory\n");
			return 1;
		}
	}
	t1 = now();
	if (ls_ustore_samples(st, &agg, &nagg) ||
	    profile_add(&prof, agg, nagg, 0, ustore_stack, st, sym, &po, &total)) {
		fprintf(stderr, "profile_post: out of memory\n");
		return 1;
	}
	t2 = now();
	profile_merge(&prof);
	t3 = now();
	if (!(out = fopen(argv[2], "w")) || profile_write_svg(out, &prof, "profile_post", "", "samples") || fclose(out)) {
		perror(argv[2]);
		return 1;
	}
	t4 = now();
	getrusage(RUSAGE_SELF, &ru);
	printf("%zu samples (%llu in the profile), %zu aggregated entries, %zu folded stacks, %zu functions: "
	       "aggregate %.2f s, symbolize+fold %.2f s, merge %.2f s, svg %.2f s; total %.2f s, peak RSS %.0f MB\n",
	       nsamples, (unsigned long long)total, nagg, prof.n, nfn, t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0,
	       (double)ru.ru_maxrss / 1024);
	profile_clear(&prof);
	free(agg);
	ls_symbolizer_free(sym);
	ls_ustore_free(st);
	free(stacks);
	free(depth);
	free(fns);
	return total == nsamples ? 0 : 1;
}
