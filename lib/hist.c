#include "hist.h"

#include <linux/types.h>
#include "latscope.h"

uint64_t ls_hist_lower(unsigned int b)
{
	unsigned int msb, sub;

	if (b < LS_HIST_LINEAR)
		return b;
	msb = (b - LS_HIST_LINEAR) / 32 + 6;
	sub = (b - LS_HIST_LINEAR) % 32;
	return (uint64_t)(32 + sub) << (msb - LS_HIST_SUB_BITS);
}

uint64_t ls_hist_width(unsigned int b)
{
	if (b < LS_HIST_LINEAR)
		return 1;
	return (uint64_t)1 << ((b - LS_HIST_LINEAR) / 32 + 6 - LS_HIST_SUB_BITS);
}

uint64_t ls_hist_quantile(const __u64 *hist, unsigned int nb, double q)
{
	uint64_t total = 0, rank, seen = 0;

	for (unsigned int b = 0; b < nb; b++)
		total += hist[b];
	if (!total)
		return 0;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	/* Nearest-rank: the smallest value with at least q of the samples at or below it. */
	rank = (uint64_t)(q * (double)total + 0.999999);
	if (rank == 0)
		rank = 1;
	for (unsigned int b = 0; b < nb; b++) {
		seen += hist[b];
		if (seen >= rank)
			return ls_hist_lower(b) + ls_hist_width(b) / 2;
	}
	return ls_hist_lower(nb - 1);
}
