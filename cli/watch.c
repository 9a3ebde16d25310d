/*
 * Changes in the targets that a running trace does not follow, each said once:
 * an exec, a probed library loaded after attach, an object calling what is probed
 * at call sites only, a child process (fork) that is no target.
 */
#include "cli.h"
#include "procmaps.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define WATCH_EVERY_NS 2000000000ull
#define WATCH_CHILDREN 64

static int is_target(const struct cli_common *c, pid_t pid)
{
	for (size_t i = 0; i < c->npids; i++)
		if (c->pids[i] == pid)
			return 1;
	return 0;
}

static void watch_libraries(struct cli_watch *w, struct ls_session *s, const struct cli_common *c)
{
	char path[LS_PATH_LEN], safe[LS_PATH_LEN * 4];

	for (size_t i = 0; i < c->npids && !w->newlib; i++) {
		if (ls_placements_new_library(ls_session_placements(s), c->pids[i], path, sizeof(path))) {
			cli_warn("pid %d loaded %s after latscope attached: its functions are not probed "
				 "(restart latscope to trace them)",
				 (int)c->pids[i], cli_term_str(safe, sizeof(safe), path));
			w->newlib = 1;
		}
	}
	for (size_t i = 0; i < c->npids && !w->newobj; i++) {
		if (ls_placements_new_object(ls_session_placements(s), c->pids[i], path, sizeof(path))) {
			cli_warn("pid %d mapped %s after latscope attached: its calls to functions probed at call "
				 "sites only are not seen (restart latscope, or use --placement entry)",
				 (int)c->pids[i], cli_term_str(safe, sizeof(safe), path));
			w->newobj = 1;
		}
	}
}

/*
 * Uprobes and the kernel's filters are per process: a forked worker (nginx-style)
 * is not traced, whatever it inherited. Said, with the pid to trace it by.
 */
static void watch_children(struct cli_watch *w, const struct cli_common *c)
{
	pid_t kids[WATCH_CHILDREN];

	for (size_t i = 0; i < c->npids && !w->child; i++) {
		size_t n = ls_proc_children(c->pids[i], kids, WATCH_CHILDREN), others = 0;
		pid_t first = 0;

		for (size_t k = 0; k < n; k++) {
			if (is_target(c, kids[k]))
				continue;
			if (!others++)
				first = kids[k];
		}
		if (!others)
			continue;
		cli_warn("pid %d has %zu child process%s (pid %d%s) latscope does not trace: a child is traced "
			 "only when named (-p %d)",
			 (int)c->pids[i], others, others > 1 ? "es" : "", (int)first, others > 1 ? ", ..." : "",
			 (int)first);
		w->child = 1;
	}
}

/*
 * exec() keeps the pid and the uprobes of the files the new image maps again (they are
 * per file, filtered by process): its libraries stay probed; what only the old
 * executable had is not. Said once, naming the new executable.
 */
static void watch_exec(struct cli_watch *w, const struct cli_common *c)
{
	char path[64], exe[LS_PATH_LEN], safe[LS_PATH_LEN * 4];
	struct stat st;
	ssize_t n;

	for (size_t i = 0; i < c->npids && i < MAX_PIDS && !w->exec; i++) {
		snprintf(path, sizeof(path), "/proc/%d/exe", (int)c->pids[i]);
		if (stat(path, &st))
			continue;
		if (!w->exe_ino[i]) {
			w->exe_dev[i] = st.st_dev;
			w->exe_ino[i] = st.st_ino;
			continue;
		}
		if (st.st_ino == w->exe_ino[i] && st.st_dev == w->exe_dev[i])
			continue;
		n = readlink(path, exe, sizeof(exe) - 1);
		exe[n > 0 ? n : 0] = '\0';
		cli_warn("pid %d exec'd %s: the libraries it maps again stay probed, what only its old executable "
			 "held is not (restart latscope to place its probes anew)",
			 (int)c->pids[i], cli_term_str(safe, sizeof(safe), exe));
		w->exec = 1;
	}
}

void cli_watch_targets(struct cli_watch *w, struct ls_session *s, const struct cli_common *c, uint64_t now)
{
	if (w->last && now - w->last < WATCH_EVERY_NS)
		return;
	w->last = now;
	watch_exec(w, c);
	watch_libraries(w, s, c);
	watch_children(w, c);
}
