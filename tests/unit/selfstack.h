/* Copying this process's own stack, as the BPF side copies a target's (test_dwunwind, fuzz_ustacks). */
#ifndef LS_TEST_SELFSTACK_H
#define LS_TEST_SELFSTACK_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

/* The stack from sp up, page by page through /proc/self/mem, to where its mapping ends. */
static size_t copy_stack(uint64_t sp, uint8_t *out, size_t want)
{
	int fd = open("/proc/self/mem", O_RDONLY);
	size_t got = 0;

	while (fd >= 0 && got < want) {
		size_t chunk = 4096 - ((sp + got) & 4095);
		ssize_t r;

		if (chunk > want - got)
			chunk = want - got;
		r = pread(fd, out + got, chunk, (off_t)(sp + got));
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (fd >= 0)
		close(fd);
	return got;
}

#endif
