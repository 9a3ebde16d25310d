/* Small helpers shared by lib/: error strings, time. */
#ifndef LS_UTIL_H
#define LS_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define LS_ERR_LEN 512

/* Format an error message into buf (size LS_ERR_LEN); returns -err so callers can `return ls_err(...)`. */
int ls_err(char *buf, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* CLOCK_MONOTONIC in ns: the clock bpf_ktime_get_ns() reads. */
uint64_t ls_now_ns(void);
/* The calling thread's CPU time (user and kernel), in ns. */
uint64_t ls_thread_cpu_ns(void);

/* Parse "250us", "500ms", "10s", "2m", "1h", or a bare number of seconds. Returns 0 or -EINVAL. */
int ls_parse_duration(const char *s, uint64_t *ns);

/* The last component of a path ("libssl.so.3" of "/usr/lib/.../libssl.so.3"). */
const char *ls_base_name(const char *path);

/* Read a whole small file (e.g. under /proc) into buf, NUL-terminated. Returns length or -errno. */
long ls_read_file(const char *path, char *buf, size_t size);

#endif
