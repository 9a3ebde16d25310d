/*
 * JIT symbol maps: the text file a JIT compiler writes for profilers
 * (/tmp/perf-PID.map: "START SIZE NAME" per line, START and SIZE in hex),
 * as Node.js --perf-basic-prof and Java's perf map agents do. The file is
 * written by the target, so by anyone: the parser bounds what it keeps
 * (LS_PERFMAP_MAX entries, names cut at LS_PERFMAP_NAME bytes, control
 * characters replaced) and counts the lines it could not read.
 */
#ifndef LS_PERFMAP_H
#define LS_PERFMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LS_PERFMAP_MAX   (1u << 20)       /* entries kept */
#define LS_PERFMAP_NAME  512              /* bytes of a name kept */
#define LS_PERFMAP_BYTES (64u << 20)      /* bytes of a file read */

struct ls_perfmap;

/* Parse len bytes of map text. *out is NULL only on -ENOMEM. */
int ls_perfmap_parse(const char *buf, size_t len, struct ls_perfmap **out);
void ls_perfmap_free(struct ls_perfmap *pm);

/*
 * The name of the symbol holding addr (the latest entry written for it when
 * entries overlap, as code is replaced) and its start; NULL when none.
 * Valid until ls_perfmap_free().
 */
const char *ls_perfmap_lookup(const struct ls_perfmap *pm, uint64_t addr, uint64_t *start);

size_t ls_perfmap_count(const struct ls_perfmap *pm);
/* Lines not read (malformed, empty ranges, past LS_PERFMAP_MAX) and bytes past LS_PERFMAP_BYTES. */
size_t ls_perfmap_bad(const struct ls_perfmap *pm);

/*
 * Read the map of process pid: perf-NSPID.map under its root's /tmp (NSPID:
 * its pid in its own namespace), else /tmp/perf-PID.map. Only a regular
 * file owned by the target's user or root is read, never through a symlink.
 * Returns 0, or -errno with reason (len bytes) saying which file and why;
 * path (len bytes) gets the file read or looked for.
 */
int ls_perfmap_load(pid_t pid, struct ls_perfmap **out, char *path, char *reason, size_t len);

#endif
