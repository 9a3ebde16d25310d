/*
 * Feature groups: the BPF programs load in groups, one group per feature, so
 * that a program the kernel refuses costs only the features that need it.
 */
#ifndef LS_FEATURE_H
#define LS_FEATURE_H

enum ls_feature {
	LS_FEAT_NET,     /* kernel send/receive timing: the kernel hook variant and the syscall entry */
	LS_FEAT_QUEUE,   /* when received bytes reached the socket */
	LS_FEAT_CALLS,   /* library calls: TLS, HTTP/2 library, protobuf (C ABI) */
	LS_FEAT_WALK,    /* the HTTP/2 walk: requests, their phases and names */
	LS_FEAT_GO,      /* Go: goroutine call stacks, grpc-go bindings */
	LS_FEAT_SAMPLER, /* CPU samples (record, top's stacks) */
	LS_FEAT_OFFCPU,  /* where threads blocked */
	LS_FEAT_COUNT,
};

const char *ls_feature_name(enum ls_feature f);
/* What the feature gives, for "feature X off: ..." lines. */
const char *ls_feature_what(enum ls_feature f);
/* The group of a program of the BPF object, by name; LS_FEAT_COUNT when it has none. */
enum ls_feature ls_feature_of_prog(const char *prog);

#endif
