/* latscope symbolize: addresses of a process, an ELF file or the kernel to functions and source lines. */
#include "cli.h"
#include "jsonw.h"
#include "symbolizer.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"usage: latscope symbolize (-p PID | -e FILE | -k) [--inlines] [--json] [--return] [ADDR...]\n"
	"\n"
	"Resolves each address (0x... hex) to its function and offset, source file and\n"
	"line where DWARF exists, and with --inlines the chain of inlined calls it sits\n"
	"in, innermost first. Without ADDR arguments, addresses are read from stdin,\n"
	"one per line. An address that does not resolve is printed as [unknown] with\n"
	"the reason.\n"
	"\n"
	"  -p, --pid PID        addresses in the address space of a running process\n"
	"  -e, --exe FILE       virtual addresses of an ELF file (as addr2line -e)\n"
	"  -k, --kernel         kernel addresses (/proc/kallsyms)\n"
	"  -i, --inlines        print every inlined call level\n"
	"      --return         the addresses are return addresses (resolved at ADDR-1)\n"
	"      --no-dwarf       symbol tables only\n"
	"      --json           one JSON object per address\n"
	"\n"
	"exit status: 0 success, 1 runtime error, 2 usage error\n";

struct sym_opts {
	int inlines, json;
};

/* Numbers by hand: printf is most of the time spent on a large batch. */
static void put_num(FILE *f, uint64_t v, int hex)
{
	char buf[24], *p = buf + sizeof(buf);

	*--p = '\0';
	do {
		*--p = "0123456789abcdef"[v % (hex ? 16 : 10)];
		v /= hex ? 16 : 10;
	} while (v);
	if (hex) {
		*--p = 'x';
		*--p = '0';
	}
	fputs_unlocked(p, f);
}

static void print_loc(FILE *f, const struct ls_sym_frame *fr)
{
	if (!fr->file)
		return;
	fputs_unlocked(" at ", f);
	fputs_unlocked(fr->file, f);
	putc_unlocked(':', f);
	put_num(f, fr->line, 0);
	if (fr->column) {
		putc_unlocked(':', f);
		put_num(f, fr->column, 0);
	}
}

static void print_text(FILE *f, const struct ls_sym *s, const struct sym_opts *o)
{
	const char *mod = s->mapping ? s->mapping->path : NULL;

	put_num(f, s->addr, 1);
	if (!s->func) {
		fprintf(f, " [unknown] (%s%s%s)\n", mod ? mod : "", mod ? ": " : "", s->reason);
		return;
	}
	putc_unlocked(' ', f);
	fputs_unlocked(s->func, f);
	putc_unlocked('+', f);
	put_num(f, s->offset, 1);
	print_loc(f, &s->frames[0]);
	if (mod) {
		fputs_unlocked(" (", f);
		fputs_unlocked(mod, f);
		putc_unlocked(')', f);
	}
	putc_unlocked('\n', f);
	if (!o->inlines || s->nframes < 2)
		return;
	for (size_t i = 0; i < s->nframes; i++) {
		fputs_unlocked("    ", f);
		fputs_unlocked(s->frames[i].func, f);
		print_loc(f, &s->frames[i]);
		fputs_unlocked(i + 1 < s->nframes ? " (inlined)\n" : "\n", f);
	}
}

static void json_frame_fields(struct jw *w, const struct ls_sym_frame *fr)
{
	if (!fr->file)
		return;
	jw_kstr(w, "file", fr->file);
	jw_ku64(w, "line", fr->line);
	jw_ku64(w, "column", fr->column);
}

static void print_json(FILE *f, const struct ls_sym *s, const struct sym_opts *o)
{
	struct jw w;

	jw_init(&w, f);
	jw_obj(&w);
	jw_khex(&w, "addr", s->addr);
	if (s->mapping) {
		jw_kstr(&w, "module", s->mapping->path);
		if (s->mapping->build_id[0])
			jw_kstr(&w, "build_id", s->mapping->build_id);
	}
	if (!s->func) {
		jw_kstr(&w, "func", NULL);
		jw_kstr(&w, "reason", s->reason);
		jw_obj_end(&w);
		return;
	}
	jw_khex(&w, "file_addr", s->file_addr);
	jw_kstr(&w, "func", s->func);
	jw_ku64(&w, "offset", s->offset);
	json_frame_fields(&w, &s->frames[0]);
	if (o->inlines) {
		jw_key(&w, "frames");
		jw_arr(&w);
		for (size_t i = 0; i < s->nframes; i++) {
			jw_obj(&w);
			jw_kstr(&w, "func", s->frames[i].func);
			json_frame_fields(&w, &s->frames[i]);
			jw_kbool(&w, "inlined", i + 1 < s->nframes);
			jw_obj_end(&w);
		}
		jw_arr_end(&w);
	}
	jw_obj_end(&w);
}

static int parse_addr(const char *arg, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(arg, &end, 16);
	return errno || end == arg || (*end && *end != '\n') ? -1 : 0;
}

/* Addresses from the arguments, else from stdin; printed errors, EXIT_* on failure. */
static int read_addrs(int argc, char **argv, uint64_t **out, size_t *n)
{
	size_t cap = 1024;
	uint64_t *v = malloc(cap * sizeof(*v));
	char line[128];

	*n = 0;
	if (!v) {
		cli_error("out of memory");
		return EXIT_RUNTIME;
	}
	for (int i = 0; argc ? i < argc : fgets(line, sizeof(line), stdin) != NULL; i++) {
		const char *arg = argc ? argv[i] : line;

		if (!argc && (line[0] == '\n' || line[0] == '#'))
			continue;
		if (*n == cap) {
			uint64_t *nv = realloc(v, (cap *= 2) * sizeof(*nv));

			if (!nv) {
				free(v);
				cli_error("out of memory");
				return EXIT_RUNTIME;
			}
			v = nv;
		}
		if (parse_addr(arg, &v[*n])) {
			cli_error("invalid address '%.*s' (hex, as 0x4011a0)", (int)strcspn(arg, "\n"), arg);
			free(v);
			return EXIT_USAGE;
		}
		(*n)++;
	}
	*out = v;
	return EXIT_OK;
}

int cmd_symbolize(int argc, char **argv)
{
	enum { OPT_JSON = 3000, OPT_RETURN, OPT_NO_DWARF };
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "exe", required_argument, NULL, 'e' },
		{ "kernel", no_argument, NULL, 'k' },
		{ "inlines", no_argument, NULL, 'i' },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "return", no_argument, NULL, OPT_RETURN },
		{ "no-dwarf", no_argument, NULL, OPT_NO_DWARF },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct ls_symbolizer_opts so = { .sz = sizeof(so) };
	struct ls_sym_src src = { 0 };
	struct ls_symbolizer *s = NULL;
	struct ls_sym_result *r = NULL;
	struct sym_opts o = { 0 };
	enum ls_sym_addr_kind kind = LS_SYM_ADDR_EXACT;
	uint64_t *addrs = NULL;
	size_t n = 0;
	int opt, nsrc = 0, ret;
	char *end;
	long pid;

	while ((opt = getopt_long(argc, argv, "p:e:kih", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			pid = strtol(optarg, &end, 10);
			if (*end || pid <= 0 || pid > 0x7fffffff) {
				cli_error("invalid pid '%s'", optarg);
				return EXIT_USAGE;
			}
			src.kind = LS_SYM_SRC_PROCESS;
			src.pid = (pid_t)pid;
			nsrc++;
			break;
		case 'e':
			src.kind = LS_SYM_SRC_ELF;
			src.path = optarg;
			nsrc++;
			break;
		case 'k':
			src.kind = LS_SYM_SRC_KERNEL;
			nsrc++;
			break;
		case 'i':
			o.inlines = 1;
			break;
		case OPT_JSON:
			o.json = 1;
			break;
		case OPT_RETURN:
			kind = LS_SYM_ADDR_RETURN;
			break;
		case OPT_NO_DWARF:
			so.no_dwarf = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		default:
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
	}
	if (nsrc != 1) {
		cli_error("symbolize: exactly one of -p PID, -e FILE, -k is needed");
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	ret = read_addrs(argc - optind, argv + optind, &addrs, &n);
	if (ret)
		return ret;
	if (ls_symbolizer_new(&so, &s)) {
		cli_error("out of memory");
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	if (src.kind == LS_SYM_SRC_PROCESS && (ret = ls_symbolizer_add_process(s, src.pid))) {
		if (ret == -ESRCH)
			cli_error("pid %d: no such process", (int)src.pid);
		else
			cli_error("%s", ls_symbolizer_error(s));
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	if (ls_symbolize(s, &src, addrs, n, kind, &r)) {
		cli_error("%s", ls_symbolizer_error(s));
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	for (size_t i = 0; i < r->n; i++)
		(o.json ? print_json : print_text)(stdout, &r->syms[i], &o);
	if (fflush(stdout)) {
		cli_error("stdout: %s", strerror(errno));
		ret = EXIT_RUNTIME;
	}
cleanup:
	ls_sym_result_free(r);
	ls_symbolizer_free(s);
	free(addrs);
	return ret;
}
