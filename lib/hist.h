/* Reading latscope's log-linear latency histograms (bpf/latscope.h). */
#ifndef LS_HIST_H
#define LS_HIST_H

#include <stdint.h>
#include <linux/types.h>

/* Lowest value that lands in bucket b, and the bucket's width. */
uint64_t ls_hist_lower(unsigned int b);
uint64_t ls_hist_width(unsigned int b);

/*
 * The q-quantile (0..1) of a histogram with nb buckets, read at the midpoint
 * of the bucket that holds it (within 1.6% of the true value). 0 when empty.
 */
uint64_t ls_hist_quantile(const __u64 *hist, unsigned int nb, double q);

#endif
