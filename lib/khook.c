/* The kernel hook: tcp_sendmsg/tcp_recvmsg timed by fentry, kprobe or tracepoint, whichever works here. */
#include "catalog.h"
#include "feature.h"
#include "session_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "latscope.skel.h"

static void report(struct ls_session *s, enum ls_khook h, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void report(struct ls_session *s, enum ls_khook h, const char *fmt, ...)
{
	size_t len = strlen(s->khook_report);
	va_list ap;

	if (len >= sizeof(s->khook_report) - 2)
		return;
	len += (size_t)snprintf(s->khook_report + len, sizeof(s->khook_report) - len, "%s: ", ls_khook_name(h));
	va_start(ap, fmt);
	if (len < sizeof(s->khook_report))
		len += (size_t)vsnprintf(s->khook_report + len, sizeof(s->khook_report) - len, fmt, ap);
	va_end(ap);
	if (len < sizeof(s->khook_report) - 1)
		strcat(s->khook_report, "\n");
}

/* Attach every program of feature f (variant h) loaded in its instance. 0, or -errno with the culprit in *bad. */
static int attach_group(struct ls_session *s, enum ls_feature f, enum ls_khook h, const char **bad)
{
	struct ls_links *into = s->klinks;
	struct latscope_bpf *sk = ls_bpf_feature(s->bpf, f);
	struct bpf_program *p;

	bpf_object__for_each_program(p, sk->obj) {
		struct bpf_link *l;
		enum ls_khook ph = ls_khook_of_prog(bpf_program__name(p));

		if (ls_feature_of_prog(bpf_program__name(p)) != f || (ph != LS_KHOOK_NONE && ph != h))
			continue;
		l = bpf_program__attach(p);
		if (!l) {
			*bad = bpf_program__name(p);
			return -errno;
		}
		if (ls_links_add(into, l)) {
			bpf_link__destroy(l);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Load and attach variant h. 0 or -errno (reported). */
static int try_variant(struct ls_session *s, enum ls_khook h)
{
	size_t nlinks = ls_links_count(s->klinks);
	const struct ls_feat_status *st;
	const char *bad = NULL;
	int ret;

	if (h == LS_KHOOK_KPROBE && access("/sys/bus/event_source/devices/kprobe", F_OK) != 0) {
		report(s, h, "not available (kernel without kprobe support: CONFIG_KPROBES off)");
		return -EOPNOTSUPP;
	}
	/* The tracepoint variant times from the socket syscall's entry. */
	if (h == LS_KHOOK_TRACEPOINT && !ls_bpf_feature(s->bpf, LS_FEAT_SYSCALLS)) {
		report(s, h, "needs the syscall entry hook, which is off");
		return -EOPNOTSUPP;
	}
	ret = ls_bpf_load(s->bpf, LS_FEAT_NET, h);
	if (ret) {
		st = ls_bpf_status(s->bpf, LS_FEAT_NET);
		report(s, h, "load failed: %s%s%s", st->prog, st->prog[0] ? ": " : "", st->reason);
		return ret;
	}
	ret = attach_group(s, LS_FEAT_NET, h, &bad);
	if (ret) {
		report(s, h, "attach %s failed: %s", bad ? bad : "", strerror(-ret));
		/* What this variant did attach goes before the next is tried. */
		ls_links_rollback(s->klinks, nlinks);
		ls_bpf_unload(s->bpf, LS_FEAT_NET);
		return ret;
	}
	report(s, h, "attached");
	s->khook = h;
	return 0;
}

int ls_khook_attach(struct ls_session *s)
{
	static const enum ls_khook order[] = { LS_KHOOK_FENTRY, LS_KHOOK_KPROBE, LS_KHOOK_TRACEPOINT };
	const char *bad = NULL;
	size_t nlinks;
	int ret = -ENOENT;

	s->khook_report[0] = '\0';
	s->khook = LS_KHOOK_NONE;
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (s->want != LS_KHOOK_NONE && order[i] != s->want)
			continue;
		ret = try_variant(s, order[i]);
		if (!ret)
			break;
	}
	if (ret) {
		char reason[256];
		size_t len = strlen(s->khook_report);

		/* One line: the variants' reports, ';'-separated. */
		snprintf(reason, sizeof(reason), "no kernel hook could be attached (%.*s)",
			 (int)(len && s->khook_report[len - 1] == '\n' ? len - 1 : len), s->khook_report);
		for (char *c = reason; *c; c++)
			if (*c == '\n')
				*c = ';';
		ls_bpf_fail(s->bpf, LS_FEAT_NET, NULL, reason);
		return ret;
	}
	/* Optional: without it (a kernel lacking the hook) queue stays 0 and the rest works. */
	if (ls_bpf_load(s->bpf, LS_FEAT_QUEUE, s->khook)) {
		const struct ls_feat_status *st = ls_bpf_status(s->bpf, LS_FEAT_QUEUE);

		report(s, s->khook, "queue not measured: %s%s%s", st->prog, st->prog[0] ? ": " : "", st->reason);
	} else if ((nlinks = ls_links_count(s->klinks), ret = attach_group(s, LS_FEAT_QUEUE, s->khook, &bad))) {
		char reason[256];

		ls_links_rollback(s->klinks, nlinks);
		if (ret == -ENOMEM)
			return ls_err(s->err, ENOMEM, "out of memory");
		snprintf(reason, sizeof(reason), "attach %s failed: %s", bad ? bad : "", strerror(-ret));
		report(s, s->khook, "queue not measured: %s", reason);
		ls_bpf_fail(s->bpf, LS_FEAT_QUEUE, bad, reason);
	} else {
		s->khook_queue = 1;
	}
	return 0;
}

int ls_khook_reattach(struct ls_session *s)
{
	const char *bad = NULL;
	int ret;

	if (s->khook == LS_KHOOK_NONE || ls_links_count(s->klinks))
		return 0;
	ret = attach_group(s, LS_FEAT_NET, s->khook, &bad);
	if (!ret && s->khook_queue)
		ret = attach_group(s, LS_FEAT_QUEUE, s->khook, &bad);
	if (ret)
		return ls_err(s->err, -ret, "attach %s failed: %s", bad ? bad : "the kernel hook", strerror(-ret));
	return 0;
}
