/* Histogram bucketing shared by BPF and user space, quantiles, duration parsing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <linux/types.h>
#include "latscope.h"
#include "hist.h"
#include "util.h"
#include "check.h"



static __u64 hist[LS_HIST_BUCKETS];

int main(void)
{
	int bad = 0;

	/* Every value lands in the bucket whose [lower, lower+width) holds it. */
	for (__u64 v = 0; v < 5000000; v += (v < 4096 ? 1 : v / 97)) {
		unsigned int b = ls_hist_bucket(v);

		if (b >= LS_HIST_BUCKETS || v < ls_hist_lower(b) || v >= ls_hist_lower(b) + ls_hist_width(b))
			bad++;
	}
	CHECK(bad == 0, "bucket bounds hold for values up to 5 ms (%d violations)", bad);
	CHECK(ls_hist_bucket(~0ull) == LS_HIST_BUCKETS - 1, "huge values land in the last bucket");
	CHECK(ls_hist_bucket((1ull << 38) - 1) == LS_HIST_BUCKETS - 1, "2^38-1 ns is the last bucket");

	/* Relative error of the midpoint stays within 1.6% from 1 us to 100 s. */
	double worst = 0;
	for (double v = 1000; v < 100e9; v *= 1.0137) {
		unsigned int b = ls_hist_bucket((__u64)v);
		double mid = (double)ls_hist_lower(b) + (double)ls_hist_width(b) / 2;
		double err = fabs(mid - (double)(__u64)v) / v;

		if (err > worst)
			worst = err;
	}
	CHECK(worst <= 0.016, "midpoint relative error <= 1.6%% over 1us..100s (worst %.3f%%)", worst * 100);

	/* Quantiles of a known distribution: 1..10000 us, uniform. */
	memset(hist, 0, sizeof(hist));
	for (__u64 us = 1; us <= 10000; us++)
		hist[ls_hist_bucket(us * 1000)]++;
	__u64 p50 = ls_hist_quantile(hist, LS_HIST_BUCKETS, 0.5), p99 = ls_hist_quantile(hist, LS_HIST_BUCKETS, 0.99);
	CHECK(fabs((double)p50 - 5000e3) / 5000e3 < 0.02, "p50 of uniform 1..10000us = %llu ns (5 ms within 2%%)", (unsigned long long)p50);
	CHECK(fabs((double)p99 - 9900e3) / 9900e3 < 0.02, "p99 = %llu ns (9.9 ms within 2%%)", (unsigned long long)p99);
	memset(hist, 0, sizeof(hist));
	CHECK(ls_hist_quantile(hist, LS_HIST_BUCKETS, 0.5) == 0, "empty histogram gives 0");

	static const struct { const char *s; unsigned long long ns; int ok; } d[] = {
		{ "250us", 250000, 1 }, { "500ms", 500000000, 1 }, { "10s", 10000000000ull, 1 },
		{ "2m", 120000000000ull, 1 }, { "3", 3000000000ull, 1 }, { "1.5s", 1500000000ull, 1 },
		{ "", 0, 0 }, { "ms", 0, 0 }, { "10x", 0, 0 }, { "-1s", 0, 0 },
	};
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		uint64_t ns = 0;
		int r = ls_parse_duration(d[i].s, &ns);

		CHECK(d[i].ok ? (r == 0 && ns == d[i].ns) : r != 0, "duration '%s' -> %s %llu", d[i].s, r ? "error" : "ok",
		      (unsigned long long)ns);
	}
	return failures ? 1 : 0;
}
