/* One process (issue 15, §7): the calls that make or wait for another process.
 * Under hermit they fail as Linux's do when a resource is missing: fork, vfork,
 * execve and clone without thread flags with ENOSYS, wait4/waitid with ECHILD,
 * posix_spawn with ENOSYS, system() -1, popen() NULL; nothing crashes.  On Linux
 * (the reference run) they work, and the same app checks that they do, so each
 * call is checked against what it really does there.  Every call is made twice:
 * the kernel log names each once (tests/test_posix.py). */
#define _GNU_SOURCE
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/check.h"

extern char **environ;

static int hermit;

/* A call that creates a process: -1 ENOSYS here; on Linux the child exits with
 * `code` and the parent reaps it. */
static void child_call(pid_t pid, int code, const char *what)
{
	char line[160];

	if (hermit) {
		snprintf(line, sizeof(line), "%s fails with ENOSYS", what);
		check(pid == -1 && errno == ENOSYS, line);
		return;
	}
	if (pid == 0)
		_exit(code);
	int st = 0;
	snprintf(line, sizeof(line), "%s: the child exits with %d", what, code);
	check(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == code,
	      line);
}

static void no_children(void)
{
	siginfo_t si;
	int st;

	FAILS_WITH(wait4(-1, &st, 0, 0), ECHILD);
	FAILS_WITH(waitpid(-1, &st, WNOHANG), ECHILD);
	FAILS_WITH(waitid(P_ALL, 0, &si, WEXITED), ECHILD);
	FAILS_WITH(waitid(P_ALL, 0, &si, 0), EINVAL);
	FAILS_WITH(wait4(-1, &st, 0x10000000, 0), EINVAL);
}

static void spawn(void)
{
	char *argv[] = { "sh", "-c", "exit 6", 0 };
	pid_t pid = 0;
	int r = posix_spawn(&pid, "/bin/sh", 0, 0, argv, environ), st = 0;

	if (hermit)
		check(r == ENOSYS, "posix_spawn returns ENOSYS");
	else
		check(r == 0 && waitpid(pid, &st, 0) == pid && WEXITSTATUS(st) == 6,
		      "posix_spawn: the child exits with 6");
	st = system("exit 3");
	if (hermit)
		check(st == -1 && errno == ENOSYS, "system fails with ENOSYS");
	else
		check(WIFEXITED(st) && WEXITSTATUS(st) == 3, "system: the shell exits with 3");
	FILE *p = popen("echo hi", "r");
	if (hermit) {
		check(!p && errno == ENOSYS, "popen fails with ENOSYS");
	} else {
		char buf[8] = "";
		check(p && fgets(buf, sizeof(buf), p) && !strcmp(buf, "hi\n") && pclose(p) == 0,
		      "popen reads the child's output");
	}
}

int main(void)
{
	struct utsname u;

	hermit = uname(&u) == 0 && !strcmp(u.sysname, "Hermit");
	printf("processes=%s\n", hermit ? "one" : "many");
	for (int round = 0; round < 2; round++) {
		no_children();
		child_call(fork(), 7, "fork");
		child_call(vfork(), 5, "vfork");
		child_call((pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0), 9, "clone(SIGCHLD)");
		pid_t pid = hermit ? -1 : fork();
		if (pid == 0) {
			char *argv[] = { "sh", "-c", "exit 4", 0 };
			execve("/bin/sh", argv, environ);
			_exit(100);
		}
		if (hermit) {
			char *argv[] = { "sh", 0 };
			FAILS_WITH(execve("/bin/sh", argv, environ), ENOSYS);
		} else {
			child_call(pid, 4, "execve in a child");
		}
		spawn();
		no_children();
	}
	printf("oneproc: ");
	return check_summary();
}
