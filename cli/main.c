/* latscope: where does a slow request's time go? One binary, subcommands from a table. */
#include "cli.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>
#include <sys/utsname.h>
#include <bpf/libbpf.h>

#include "uprobe_multi.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "probes", cmd_probes, "list the probes latscope would attach to a process, and the kernel hook" },
	{ "trace", cmd_trace, "stream slow requests with their phases, then summarise per method" },
	{ "record", cmd_record, "profile a process's CPU (and off-CPU) time as folded stacks" },
	{ "top", cmd_top, "live view of requests per method: rates, latency, phases, slow requests, hot stacks" },
	{ "export", cmd_export, "agent: serve request latency per method and phase as Prometheus metrics" },
	{ "symbolize", cmd_symbolize, "addresses of a process, an ELF file or the kernel to functions and source lines" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: latscope COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'latscope COMMAND --help' shows a command's options.\n"
		   "exit status: 0 success, 1 runtime error, 2 usage error\n");
}

/* libbpf diagnostics only under -vv (-vvv for debug): the error we print already names the cause. */
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (cli_verbose < (level == LIBBPF_DEBUG ? 3 : 2))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* The version, and what latscope depends on that this kernel has or lacks. */
static void version(void)
{
	static const char btf[] = "/sys/kernel/btf/vmlinux";
	struct utsname u;
	int has_btf = access(btf, R_OK) == 0;

	printf("latscope %s\n", LATSCOPE_VERSION);
	if (uname(&u) == 0)
		printf("kernel: %s %s\n", u.sysname, u.release);
	printf("kernel BTF (%s): %s\n", btf, has_btf ? "yes" : "no (latscope needs it)");
	printf("uprobe_multi links: %s\n",
	       has_btf && ls_kernel_has_uprobe_multi(btf) ? "yes" : "no (one classic uprobe per probe)");
	printf("libbpf: %s\n", libbpf_version_string());
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		version();
		return EXIT_OK;
	}
	libbpf_set_print(libbpf_log);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	cli_error("unknown command '%s'", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
