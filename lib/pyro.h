/*
 * Continuous profiles for Pyroscope: the body of a push to its push API
 * (push.v1.PusherService/Push, Connect's JSON: one series of labels, one
 * sample carrying the gzipped pprof), and the app name of its older
 * /ingest?format=pprof endpoint.
 */
#ifndef LS_PYRO_H
#define LS_PYRO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ls_pyro_series {
	const char *name;     /* the profile's __name__ ("process_cpu") */
	const char *service;  /* service_name */
	const char *comm;
	const char *host;     /* hostname */
	int pid;
};

/* One push request's JSON to f; id is the sample's (a UUID). */
void ls_pyro_push_json(FILE *f, const struct ls_pyro_series *s, const char *id, const uint8_t *pprof, size_t len);

/*
 * /ingest's name parameter, NAME{service_name=..,pid=..,comm=..,hostname=..}:
 * characters its syntax gives a meaning to ({}=, and quotes) or that are not
 * printable ASCII become '_'. Not URL-encoded.
 */
void ls_pyro_ingest_name(char *out, size_t len, const struct ls_pyro_series *s);

/* A random (version 4) UUID, 36 characters and a NUL. */
void ls_pyro_uuid(char out[37]);

#endif
