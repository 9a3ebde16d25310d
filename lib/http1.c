#include "http1.h"

#include <errno.h>
#include <string.h>

/* RFC 9110 tchar: what a method may be made of. */
static int is_tchar(uint8_t c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
		return 1;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Bytes of a request target: visible ASCII (obs-text taken too: the output escapes it). */
static int is_target(uint8_t c)
{
	return c > ' ' && c != 0x7f;
}

int ls_h1_request_line(const uint8_t *p, size_t n, char *method, size_t msize, char *path, size_t psize)
{
	size_t i = 0, m = 0, t, k = 0;

	if (msize)
		method[0] = 0;
	if (psize)
		path[0] = 0;
	while (i < n && is_tchar(p[i]))
		i++;
	m = i;
	if (!m || i >= n || p[i] != ' ')
		return -EINVAL;
	t = ++i;
	while (i < n && is_target(p[i]))
		i++;
	if (i == t || !msize || !psize)
		return -EINVAL;
	for (k = 0; k < m && k + 1 < msize; k++)
		method[k] = (char)p[k];
	method[k] = 0;
	for (k = 0; t + k < i && k + 1 < psize; k++)
		path[k] = (char)p[t + k];
	path[k] = 0;
	return 0;
}
