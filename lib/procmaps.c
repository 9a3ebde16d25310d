#include "procmaps.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Field 22 of /proc/PID/stat, starttime, from the ')' that closes comm (field 2): 0 when absent. */
static uint64_t stat_start(const char *paren)
{
	const char *p = paren;

	for (int field = 2; p && field < 22; field++) {
		p = strchr(p + 1, ' ');
		if (!p)
			return 0;
	}
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

int ls_proc_info(pid_t pid, struct ls_proc_info *info, char *err)
{
	char path[64], buf[1024];
	long n;
	char *p;

	memset(info, 0, sizeof(*info));
	info->pid = pid;
	if (pid <= 0)
		return ls_err(err, EINVAL, "pid %d: not a valid pid", (int)pid);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = ls_read_file(path, buf, sizeof(buf));
	if (n < 0)
		return ls_err(err, n == -ENOENT ? ESRCH : (int)-n, "pid %d: no such process", (int)pid);
	/* comm is in parentheses and may itself hold ')': the state follows the last one. */
	p = strrchr(buf, ')');
	if (p && p[1] == ' ')
		info->zombie = p[2] == 'Z' || p[2] == 'X';
	info->start_ticks = stat_start(p);
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if (ls_read_file(path, info->comm, sizeof(info->comm)) > 0)
		info->comm[strcspn(info->comm, "\n")] = '\0';
	if (info->zombie)
		return ls_err(err, ESRCH, "pid %d (%s): process has exited", (int)pid, info->comm);
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, info->exe, sizeof(info->exe) - 1);
	if (n < 0) {
		int e = errno;

		if (e == ENOENT) {
			/* Kernel threads have no executable and no address space. */
			info->kernel_thread = 1;
			return ls_err(err, EINVAL, "pid %d (%s): is a kernel thread, not a user process",
				      (int)pid, info->comm);
		}
		if (e == EACCES || e == EPERM)
			return ls_err(err, EPERM, "pid %d: cannot inspect process: %s", (int)pid, strerror(e));
		return ls_err(err, e, "pid %d: %s: %s", (int)pid, path, strerror(e));
	}
	info->exe[n] = '\0';
	return 0;
}

/*
 * Calls fn(text, ctx) with the text of /proc/PID/task/TID/NAME of each of pid's threads
 * (up to max threads; none when pid is gone), until fn returns nonzero.
 */
static void each_task_file(pid_t pid, const char *name, size_t max, int (*fn)(const char *text, void *ctx), void *ctx)
{
	char path[96], buf[4096];
	size_t n = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)) && n < max) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		n++;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/%s", (int)pid, de->d_name, name);
		if (ls_read_file(path, buf, sizeof(buf)) > 0 && fn(buf, ctx))
			break;
	}
	closedir(d);
}

struct children {
	pid_t *out;
	size_t n, max;
};

static int add_children(const char *text, void *ctx)
{
	struct children *c = ctx;
	const char *p;
	char *end;

	for (p = text; c->n < c->max; p = end) {
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		c->out[c->n++] = (pid_t)v;
	}
	return c->n >= c->max;
}

size_t ls_proc_children(pid_t pid, pid_t *out, size_t max)
{
	struct children c = { out, 0, max };

	if (max)
		each_task_file(pid, "children", SIZE_MAX, add_children, &c);
	return c.n;
}

int ls_proc_alive(pid_t pid)
{
	struct ls_proc_info info;
	char err[LS_ERR_LEN];

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return 0;
	return ls_proc_info(pid, &info, err) == 0 || info.kernel_thread;
}

int ls_proc_objects(pid_t pid, struct ls_object **objs, size_t *n, char *err)
{
	char path[64], exe[LS_PATH_LEN];
	FILE *f;
	ssize_t elen;
	int ret;

	*objs = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	elen = readlink(path, exe, sizeof(exe) - 1);
	exe[elen > 0 ? elen : 0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return ls_err(err, errno == ENOENT ? ESRCH : errno, "pid %d: %s: %s", (int)pid, path, strerror(errno));
	ret = ls_maps_objects(f, pid, exe, objs, n, err);
	fclose(f);
	return ret;
}

int ls_maps_objects(FILE *f, pid_t pid, const char *exe, struct ls_object **objs, size_t *n, char *err)
{
	char line[LS_PATH_LEN + 256];
	struct ls_object *v = NULL;
	size_t cnt = 0, cap = 0;
	int ret = 0;

	*objs = NULL;
	*n = 0;
	while (fgets(line, sizeof(line), f)) {
		uint64_t start, end, off, inode;
		unsigned int maj, min;
		char perms[8];
		int pos = 0;
		char *file;
		size_t len, i;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64 " %n",
			   &start, &end, perms, &off, &maj, &min, &inode, &pos) < 7 || pos == 0)
			continue;
		file = line + pos;
		len = strcspn(file, "\n");
		file[len] = '\0';
		if (perms[2] != 'x' || file[0] != '/' || inode == 0)
			continue;
		for (i = 0; i < cnt; i++)
			if (v[i].inode == inode && v[i].dev == (((uint64_t)maj << 32) | min))
				break;
		if (i < cnt)
			continue;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			struct ls_object *nv = realloc(v, ncap * sizeof(*v));

			if (!nv) {
				ret = ls_err(err, ENOMEM, "out of memory");
				goto cleanup;
			}
			v = nv;
			cap = ncap;
		}
		memset(&v[cnt], 0, sizeof(v[cnt]));
		v[cnt].inode = inode;
		v[cnt].dev = (((uint64_t)maj << 32) | min);
		if (len > 10 && strcmp(file + len - 10, " (deleted)") == 0) {
			file[len - 10] = '\0';
			v[cnt].deleted = 1;
		}
		snprintf(v[cnt].path, sizeof(v[cnt].path), "%s", file);
		snprintf(v[cnt].open_path, sizeof(v[cnt].open_path), "/proc/%d/root%s", (int)pid, file);
		v[cnt].is_main = strcmp(file, exe) == 0;
		cnt++;
	}
	/* Main executable first: statically linked libraries are most often found there. */
	for (size_t i = 1; i < cnt; i++) {
		if (v[i].is_main) {
			struct ls_object t = v[i];

			memmove(&v[1], &v[0], i * sizeof(*v));
			v[0] = t;
			break;
		}
	}
	*objs = v;
	*n = cnt;
	v = NULL;
cleanup:
	free(v);
	return ret;
}

int ls_proc_cpu_ns(pid_t pid, uint64_t *ns)
{
	char path[64], buf[1024];
	unsigned long long ut, st;
	long len, hz = sysconf(_SC_CLK_TCK);
	const char *p;
	struct timespec ts;
	clockid_t clk;

	/*
	 * The process's CPU clock: to the nanosecond, in one system call. /proc's clock ticks
	 * (10 ms) were most of what an overhead budget's window of 20 ms measured.
	 */
	if (clock_getcpuclockid(pid, &clk) == 0 && clock_gettime(clk, &ts) == 0) {
		*ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	len = ls_read_file(path, buf, sizeof(buf));
	if (len < 0)
		return (int)len;
	/* After the command name (which may hold spaces and parentheses): state, then 10 fields, then utime stime. */
	p = strrchr(buf, ')');
	if (!p || hz <= 0 || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EINVAL;
	*ns = (uint64_t)(ut + st) * (1000000000ull / (uint64_t)hz);
	return 0;
}

/* A thread's run delay (the second field of its schedstat) added to the sum at ctx. */
static int add_run_delay(const char *text, void *ctx)
{
	unsigned long long run, wait;

	if (sscanf(text, "%llu %llu", &run, &wait) == 2)
		*(uint64_t *)ctx += wait;
	return 0;
}

uint64_t ls_procs_run_delay_ns(const pid_t *pids, size_t n)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < n; i++)
		each_task_file(pids[i], "schedstat", LS_DELAY_MAX_TASKS, add_run_delay, &sum);
	return sum;
}

int ls_proc_io_bytes(pid_t pid, uint64_t *bytes)
{
	char path[64], buf[512];
	unsigned long long rchar, wchar;
	const char *r, *w;
	long len;

	snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
	len = ls_read_file(path, buf, sizeof(buf));
	if (len < 0)
		return (int)len;
	r = strstr(buf, "rchar: ");
	w = strstr(buf, "wchar: ");
	if (!r || !w || sscanf(r + 7, "%llu", &rchar) != 1 || sscanf(w + 7, "%llu", &wchar) != 1)
		return -EINVAL;
	*bytes = (uint64_t)rchar + (uint64_t)wchar;
	return 0;
}

int ls_procs_io_bytes(const pid_t *pids, size_t n, uint64_t *bytes)
{
	uint64_t sum = 0, b;
	int ret = -ESRCH;

	for (size_t i = 0; i < n; i++) {
		int r = ls_proc_io_bytes(pids[i], &b);

		if (r == 0) {
			sum += b;
			ret = 0;
		} else if (r != -ENOENT && r != -ESRCH) {
			return r;
		}
	}
	*bytes = sum;
	return ret;
}

uint64_t ls_procs_cpu_ns(const pid_t *pids, size_t n)
{
	uint64_t sum = 0, ns;

	for (size_t i = 0; i < n; i++)
		if (ls_proc_cpu_ns(pids[i], &ns) == 0)
			sum += ns;
	return sum;
}
