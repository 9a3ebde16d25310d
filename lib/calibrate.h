/*
 * What a uprobe hit costs on this machine, measured: the cost of a hit
 * depends on the instruction the probe replaces and on the host (one class
 * was seven to ten times dearer on one host than on another of the same
 * kernel). latscope probes functions of its own, one per instruction class,
 * with empty programs, and times calls with and without them.
 */
#ifndef LS_CALIBRATE_H
#define LS_CALIBRATE_H

#include "insnclass.h"

/* Measure every class into *out (out->measured set). 0, or -errno with err set: keep the static table then. */
int ls_calibrate(struct ls_costs *out, char *err);

/*
 * A test switch: every later measurement multiplied by f (> 0), as on a host whose
 * costs moved after they were measured. Parts that use the costs must stay sane.
 */
void ls_calibrate_scale(double f);

/*
 * The cost of a hit also moves with time on one machine (by a third, over
 * seconds, on virtual machines whose host shares its cores), so a session
 * re-measures in a thread of its own: every second at first, then every
 * fifteen, and uses the least of the latest measurements. Start from the
 * first measurement (NULL when the thread cannot start, or when the kernel has
 * no uprobe_multi links: then each measurement would attach and remove its
 * probes one by one, and the first one stands).
 */
struct ls_calib_bg;
struct ls_calib_bg *ls_calib_bg_start(const struct ls_costs *first);
/* 1 with *out the least so far when a measurement came since the last call; 0 otherwise. */
int ls_calib_bg_take(struct ls_calib_bg *bg, struct ls_costs *out);
/*
 * Hold or resume the measurements (an overhead budget's gap: the probes being off, their
 * cost is not needed, and a measurement's CPU would be the gap's only cost). NULL is fine.
 */
void ls_calib_bg_hold(struct ls_calib_bg *bg, int hold);
/* Stop (waits for a measurement under way, ~30 ms) and free. */
void ls_calib_bg_stop(struct ls_calib_bg *bg);

#endif
