/*
 * Feature groups (enum ls_feature, bpf/latscope.h): which BPF program belongs
 * to which, their names, and what each gives.
 */
#ifndef LS_FEATURE_H
#define LS_FEATURE_H

#include <linux/types.h>
#include "latscope.h"

const char *ls_feature_name(enum ls_feature f);
/* What the feature gives, for "feature X off" lines. */
const char *ls_feature_what(enum ls_feature f);
/* Parse a feature name; 0 or -EINVAL. */
int ls_feature_parse(const char *name, enum ls_feature *out);
/* The group of a program of the BPF object, by name; LS_FEAT_COUNT when it has none. */
enum ls_feature ls_feature_of_prog(const char *prog);
/* The kernel hook variant a program belongs to (LS_KHOOK_NONE: every variant). */
enum ls_khook ls_khook_of_prog(const char *prog);

#endif
