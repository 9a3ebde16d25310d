/*
 * libFuzzer target for the /proc/PID/maps reader of lib/procmaps
 * (ls_maps_objects, what ls_proc_objects runs on the file): any text, lines
 * of any length. The input's first line is the process's executable, the rest
 * its maps. The objects found must be what the reader promises: absolute
 * paths with an inode, each (device, inode) once, the executable first, and
 * open paths under /proc/PID/root.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procmaps.h"
#include "util.h"

#define PID 4242

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char exe[LS_PATH_LEN], err[LS_ERR_LEN], prefix[64];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t elen = nl ? (size_t)(nl - data) : 0, plen;
	struct ls_object *objs;
	size_t n;
	FILE *f;

	if (elen >= sizeof(exe))
		elen = sizeof(exe) - 1;
	memcpy(exe, data, elen);
	exe[elen] = '\0';
	if (nl) {
		size -= (size_t)(nl + 1 - data);
		data = nl + 1;
	}
	/* fmemopen of an empty buffer fails: give it one byte it ignores. */
	f = fmemopen(size ? (void *)data : (void *)"\n", size ? size : 1, "r");
	if (!f)
		return 0;
	if (ls_maps_objects(f, PID, exe, &objs, &n, err)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	plen = (size_t)snprintf(prefix, sizeof(prefix), "/proc/%d/root", PID);
	for (size_t i = 0; i < n; i++) {
		const struct ls_object *o = &objs[i];
		if (o->path[0] != '/' || !o->inode)
			abort();
		if (o->is_main != !strcmp(o->path, exe) || (o->is_main && !objs[0].is_main))
			abort(); /* the executable first */
		if (strncmp(o->open_path, prefix, plen) || strncmp(o->open_path + plen, o->path, sizeof(o->open_path) - plen - 1))
			abort();
		for (size_t k = 0; k < i; k++)
			if (objs[k].inode == o->inode && objs[k].dev == o->dev)
				abort();
	}
	free(objs);
	return 0;
}
