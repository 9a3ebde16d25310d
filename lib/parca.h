/*
 * Continuous profiles for Parca: the request of its profile store's WriteRaw
 * call (parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw) as the body
 * of a gRPC POST: the 5-byte gRPC message prefix, then the protobuf
 * WriteRawRequest { series { labels { labels { name value } ... } samples {
 * raw_profile } } }, written by hand as lib/pprof.c writes pprof.
 */
#ifndef LS_PARCA_H
#define LS_PARCA_H

#include <stddef.h>
#include <stdint.h>

#include "pyro.h"

#define LS_PARCA_WRITE_RAW "/parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw"

/* The gRPC body for one series with one sample (pprof: gzipped). *out is malloc'ed. 0 or -ENOMEM. */
int ls_parca_write_raw(const struct ls_pyro_series *s, const uint8_t *pprof, size_t len, uint8_t **out,
		       size_t *outlen);

#endif
