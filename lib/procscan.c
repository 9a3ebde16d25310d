#include "procscan.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The kernel keeps TASK_COMM_LEN - 1 characters of a process's name. */
#define COMM_CHARS 15

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

static int comm_is(pid_t pid, const char *name)
{
	char path[64], comm[64], stat[512], exe[8], *p;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (ls_read_file(path, comm, sizeof(comm)) <= 0)
		return 0;
	comm[strcspn(comm, "\n")] = 0;
	if (strncmp(comm, name, COMM_CHARS))
		return 0;
	/* A zombie keeps its name but has nothing left to trace. */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (ls_read_file(path, stat, sizeof(stat)) <= 0 || !(p = strrchr(stat, ')')) || p[1] != ' ')
		return 0;
	if (p[2] == 'Z' || p[2] == 'X')
		return 0;
	/* Kernel threads have names too, and no executable to probe. */
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	return readlink(path, exe, sizeof(exe)) >= 0 || errno != ENOENT;
}

long ls_procs_by_comm(const char *name, pid_t *out, size_t max, size_t *n)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	long total = 0;
	pid_t self = getpid();

	*n = 0;
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0 || pid == self || !comm_is((pid_t)pid, name))
			continue;
		total++;
		if (*n < max)
			out[(*n)++] = (pid_t)pid;
	}
	closedir(d);
	qsort(out, *n, sizeof(*out), cmp_pid);
	return total;
}
