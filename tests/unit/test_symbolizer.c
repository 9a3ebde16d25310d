/*
 * The symbolizer on this very process: its own functions by pid and by ELF
 * file, the return-address rule, reasons for what does not resolve, a process
 * that exits between add_process and symbolization, and the kernel.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "symbolizer.h"
#include "check.h"



__attribute__((noinline)) static uint64_t where_am_i(void)
{
	return (uint64_t)(uintptr_t)__builtin_return_address(0);
}

__attribute__((noinline)) int probe_target(int x)
{
	return x * 3 + 1;
}

static const char *name_of(const struct ls_sym_result *r, size_t i)
{
	return r && i < r->n && r->syms[i].func ? r->syms[i].func : "(unresolved)";
}

int main(void)
{
	struct ls_symbolizer *s;
	struct ls_sym_result *r = NULL, *r2 = NULL;
	struct ls_sym_src self = { .kind = LS_SYM_SRC_PROCESS, .pid = getpid() };
	uint64_t addrs[3], ret_addr = where_am_i();
	const char *kname = NULL;
	pid_t child;
	int st;

	CHECK(ls_symbolizer_new(NULL, &s) == 0, "a symbolizer");
	addrs[0] = (uint64_t)(uintptr_t)probe_target + 2;
	addrs[1] = ret_addr;
	addrs[2] = 0x10;
	CHECK(ls_symbolize(s, &self, addrs, 3, LS_SYM_ADDR_STACK, &r) == 0 && r->n == 3, "a stack of this process");
	CHECK(!strcmp(name_of(r, 0), "probe_target") && r->syms[0].offset == 2, "probe_target+2 (%s+%llu)",
	      name_of(r, 0), r ? (unsigned long long)r->syms[0].offset : 0);
	CHECK(r && r->syms[0].frames && r->syms[0].frames[0].file && strstr(r->syms[0].frames[0].file, "test_symbolizer.c"),
	      "with its source file (%s:%u)", r && r->syms[0].frames ? r->syms[0].frames[0].file : "?",
	      r && r->syms[0].frames ? r->syms[0].frames[0].line : 0);
	CHECK(!strcmp(name_of(r, 1), "main"), "a return address resolves to its caller, main (%s)", name_of(r, 1));
	CHECK(r && !r->syms[2].func && r->syms[2].reason && strstr(r->syms[2].reason, "no executable mapping"),
	      "an unmapped address says why (%s)", r && r->syms[2].reason ? r->syms[2].reason : "no reason");
	CHECK(r && r->syms[0].mapping && r->syms[0].mapping->build_id[0], "the mapping has a build-id (%s)",
	      r && r->syms[0].mapping ? r->syms[0].mapping->build_id : "?");

	/* The same function through the ELF file, at the file address the process lookup gave. */
	if (r && r->syms[0].mapping) {
		struct ls_sym_src elf = { .kind = LS_SYM_SRC_ELF, .path = "/proc/self/exe" };
		uint64_t fa = r->syms[0].file_addr;

		CHECK(ls_symbolize(s, &elf, &fa, 1, LS_SYM_ADDR_EXACT, &r2) == 0 && !strcmp(name_of(r2, 0), "probe_target"),
		      "file address 0x%llx of the executable is probe_target too", (unsigned long long)fa);
		ls_sym_result_free(r2);
		r2 = NULL;
	}

	/* An object loaded after the mappings were read: found when they are read again (at most once a second). */
	{
		void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
		void *fn = h ? dlsym(h, "EVP_MD_CTX_new") : NULL;
		uint64_t a = (uint64_t)(uintptr_t)fn;

		usleep(1100000);
		CHECK(fn && ls_symbolize(s, &self, &a, 1, LS_SYM_ADDR_EXACT, &r2) == 0 && !strcmp(name_of(r2, 0), "EVP_MD_CTX_new"),
		      "a library dlopen()ed after the first lookup resolves (%s in %s)", name_of(r2, 0),
		      r2 && r2->syms[0].mapping ? r2->syms[0].mapping->path : "?");
		ls_sym_result_free(r2);
		r2 = NULL;
	}

	/* A child that is gone by the time its addresses are symbolized. */
	child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	CHECK(ls_symbolizer_add_process(s, child) == 0, "child %d added while alive", (int)child);
	kill(child, SIGKILL);
	waitpid(child, &st, 0);
	{
		struct ls_sym_src gone = { .kind = LS_SYM_SRC_PROCESS, .pid = child };

		CHECK(ls_symbolize(s, &gone, addrs, 1, LS_SYM_ADDR_EXACT, &r2) == 0 && !strcmp(name_of(r2, 0), "probe_target"),
		      "its addresses resolve after it exited (%s)", name_of(r2, 0));
		ls_sym_result_free(r2);
		r2 = NULL;
		gone.pid = child; /* reaped: never added to a fresh symbolizer */
		{
			struct ls_symbolizer *s2;

			ls_symbolizer_new(NULL, &s2);
			CHECK(ls_symbolizer_add_process(s2, child) == -ESRCH, "adding an exited pid: -ESRCH (%s)",
			      ls_symbolizer_error(s2));
			CHECK(ls_symbolize(s2, &gone, addrs, 1, LS_SYM_ADDR_EXACT, &r2) == 0 && !r2->syms[0].func &&
				      strstr(r2->syms[0].reason, "gone"),
			      "symbolizing it anyway gives a reason per address (%s)", r2 ? r2->syms[0].reason : "?");
			ls_sym_result_free(r2);
			r2 = NULL;
			ls_symbolizer_free(s2);
		}
	}

	/* Kernel: the first text symbol of kallsyms, 1 byte in. */
	{
		FILE *f = fopen("/proc/kallsyms", "r");
		char line[512], name[256] = "", type;
		unsigned long long a = 0;
		struct ls_sym_src k = { .kind = LS_SYM_SRC_KERNEL };

		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "%llx %c %255s", &a, &type, name) == 3 && a && (type == 'T' || type == 't') &&
			    !strcmp(name, "schedule"))
				break;
		if (f)
			fclose(f);
		addrs[0] = a + 1;
		CHECK(ls_symbolize(s, &k, addrs, 1, LS_SYM_ADDR_EXACT, &r2) == 0 && (kname = name_of(r2, 0)) &&
			      !strcmp(kname, "schedule") && r2->syms[0].offset == 1,
		      "kernel schedule+1 (%s)", kname ? kname : "?");
		ls_sym_result_free(r2);
	}
	CHECK(ls_symbolize(s, &(struct ls_sym_src){ .kind = LS_SYM_SRC_ELF, .path = "/nonexistent" }, addrs, 1,
			   LS_SYM_ADDR_EXACT, &r2) == -ENOENT && strstr(ls_symbolizer_error(s), "/nonexistent"),
	      "a missing ELF file is an error naming it (%s)", ls_symbolizer_error(s));
	ls_sym_result_free(r);
	ls_symbolizer_free(s);
	ls_symbolizer_free(NULL);
	ls_sym_result_free(NULL);
	return failures ? 1 : 0;
}
