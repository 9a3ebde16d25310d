/*
 * HTTP/1.x request lines, as the kernel side copies them (LS_HD_HTTP1
 * fragments): the method and the request target. A pure parser: the fuzz
 * target's.
 */
#ifndef LS_HTTP1_H
#define LS_HTTP1_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse "METHOD SP TARGET SP HTTP/x.y" (CR, LF and anything after the line
 * ignored; a line cut short keeps what it has of the target). The method
 * (a token) goes to method, the target to path, each cut to its size and
 * NUL-terminated. Returns 0, or -EINVAL when p does not start with a method
 * and a target (both then empty).
 */
int ls_h1_request_line(const uint8_t *p, size_t n, char *method, size_t msize, char *path, size_t psize);

#endif
