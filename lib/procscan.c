#include "procscan.h"
#include "procmaps.h"
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
	char path[64], comm[64];

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (ls_read_file(path, comm, sizeof(comm)) <= 0)
		return 0;
	comm[strcspn(comm, "\n")] = 0;
	return !strncmp(comm, name, COMM_CHARS);
}

/* pid's cgroup v2 path is cg or lies below it. */
static int in_cgroup(pid_t pid, const char *cg)
{
	char path[64], buf[4096], *line, *save = NULL;
	size_t n = strlen(cg);

	while (n > 1 && cg[n - 1] == '/')
		n--;
	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	if (ls_read_file(path, buf, sizeof(buf)) <= 0)
		return 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *p;

		if (strncmp(line, "0::", 3))
			continue;
		p = line + 3;
		return !strncmp(p, cg, n) && (p[n] == 0 || p[n] == '/' || n == 1);
	}
	return 0;
}

static int matches(pid_t pid, const struct ls_proc_match *m)
{
	struct ls_proc_info info;
	char err[LS_ERR_LEN];

	if (m->comm && !comm_is(pid, m->comm))
		return 0;
	if (m->cgroup && !in_cgroup(pid, m->cgroup))
		return 0;
	/* Zombies and kernel threads (no executable) have nothing to probe. */
	if (ls_proc_info(pid, &info, err))
		return 0;
	return !m->exe || !strcmp(info.exe, m->exe);
}

long ls_procs_find(const struct ls_proc_match *m, pid_t *out, size_t max, size_t *n)
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

		if (*end || pid <= 0 || pid == self || !matches((pid_t)pid, m))
			continue;
		total++;
		if (*n < max)
			out[(*n)++] = (pid_t)pid;
	}
	closedir(d);
	qsort(out, *n, sizeof(*out), cmp_pid);
	return total;
}
