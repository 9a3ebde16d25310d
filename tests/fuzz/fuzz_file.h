/*
 * For fuzz targets whose code under test reads a file by path: the input goes
 * into a memory file, and the path handed over is its /proc/self/fd link.
 *
 * The parsers map that file. A mapping is page-granular and zero-filled past
 * the end of the file, so it would hide a read of a few bytes beyond it. A
 * target linked with -Wl,--wrap=mmap,--wrap=munmap (FUZZ_WRAP_MMAP in
 * build.mk) gets a heap copy of the file instead, inside AddressSanitizer's
 * redzones: an overread of one byte is then reported.
 */
#ifndef LS_FUZZ_FILE_H
#define LS_FUZZ_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int fuzz_fd = -1;
static char fuzz_path[64];
static struct stat fuzz_st;

/* The input as a file: a path valid until the next call. Exits when no memory file can be made. */
static const char *fuzz_file(const uint8_t *data, size_t size)
{
	size_t off = 0;

	if (fuzz_fd < 0) {
		fuzz_fd = memfd_create("latscope-fuzz", MFD_CLOEXEC);
		if (fuzz_fd < 0 || fstat(fuzz_fd, &fuzz_st)) {
			perror("memfd_create");
			exit(2);
		}
		snprintf(fuzz_path, sizeof(fuzz_path), "/proc/self/fd/%d", fuzz_fd);
	}
	/* Written over the last input, then cut to size: the file's pages are reused from one input to the next. */
	while (off < size) {
		ssize_t w = pwrite(fuzz_fd, data + off, size - off, (off_t)off);

		if (w <= 0) {
			perror("pwrite");
			exit(2);
		}
		off += (size_t)w;
	}
	if (ftruncate(fuzz_fd, (off_t)size)) {
		perror("ftruncate");
		exit(2);
	}
	return fuzz_path;
}

#ifdef FUZZ_WRAP_MMAP
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __real_munmap(void *addr, size_t len);

/* The heap copies handed out for mappings of the input (a parser maps it once or twice). */
static struct {
	void *p;
	size_t len;
} fuzz_maps[16];

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct stat st;

	if (fuzz_fd >= 0 && fd >= 0 && !addr && !(prot & PROT_EXEC) && (flags & MAP_PRIVATE) && !fstat(fd, &st) &&
	    st.st_dev == fuzz_st.st_dev && st.st_ino == fuzz_st.st_ino) {
		for (size_t i = 0; i < sizeof(fuzz_maps) / sizeof(fuzz_maps[0]); i++) {
			size_t got = 0;
			uint8_t *p;

			if (fuzz_maps[i].p)
				continue;
			p = malloc(len ? len : 1);
			if (!p)
				return MAP_FAILED;
			/* As a mapping reads: the file's bytes, zeros past its end. */
			while (got < len) {
				ssize_t r = pread(fd, p + got, len - got, off + (off_t)got);

				if (r <= 0)
					break;
				got += (size_t)r;
			}
			memset(p + got, 0, len - got);
			fuzz_maps[i].p = p;
			fuzz_maps[i].len = len;
			return p;
		}
	}
	return __real_mmap(addr, len, prot, flags, fd, off);
}

int __wrap_munmap(void *addr, size_t len);
int __wrap_munmap(void *addr, size_t len)
{
	for (size_t i = 0; i < sizeof(fuzz_maps) / sizeof(fuzz_maps[0]); i++) {
		if (fuzz_maps[i].p == addr) {
			free(addr);
			fuzz_maps[i].p = NULL;
			return 0;
		}
	}
	return __real_munmap(addr, len);
}
#endif

/* Read every byte of [p, p + len): an out-of-bounds range is reported where it is handed out. */
static inline void fuzz_touch(const void *p, size_t len)
{
	volatile uint8_t sink = 0;

	for (size_t i = 0; p && i < len; i++)
		sink ^= ((const uint8_t *)p)[i];
	(void)sink;
}

#endif
