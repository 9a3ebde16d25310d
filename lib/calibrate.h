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

#endif
