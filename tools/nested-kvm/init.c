/*
 * PID 1 of the nested-KVM test VM (see ./run).
 *
 * Loads the kernel modules listed in /modules.list (dependencies first; options
 * come from the kernel command line as "module.param=value", the way modprobe
 * takes them), mounts the host's root file system (9p tag "hostroot", read-only,
 * under a RAM overlay that makes it writable inside the VM only) and the
 * per-run exchange directory (9p tag "nkvmout", writable) at
 * /run/nested-kvm, then runs /run/nested-kvm/cmd.sh with /bin/sh inside the host
 * root. The command's stdout, stderr and status ("exit N" or "signal N") land in
 * files of the exchange directory; then the VM powers off.
 *
 * Built static by ./run with the host's gcc; needs nothing else in the initramfs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define XDIR "/run/nested-kvm"

static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("nested-kvm init: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void halt(void)
{
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

static void must_mount(const char *src, const char *dst, const char *type,
		       unsigned long flags, const char *opts)
{
	mkdir(dst, 0755);
	for (int tries = 0; tries < 50; tries++) {
		if (mount(src, dst, type, flags, opts) == 0)
			return;
		if (errno != ENOENT && errno != ENODEV)
			break;
		usleep(100000); /* a virtio device still being probed */
	}
	say("mount %s (%s) on %s failed: %s", src, type, dst, strerror(errno));
	halt();
}

static char cmdline[4096];

/* "name.a=1 name.b=2" on the command line -> "a=1 b=2" */
static void module_options(const char *name, char *out, size_t size)
{
	size_t len = strlen(name), used = 0;
	char copy[sizeof(cmdline)];

	out[0] = 0;
	strcpy(copy, cmdline);
	for (char *save, *tok = strtok_r(copy, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save)) {
		if (strncmp(tok, name, len) != 0 || tok[len] != '.')
			continue;
		int n = snprintf(out + used, size - used, "%s ", tok + len + 1);
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += n;
	}
}

static void load_modules(void)
{
	FILE *list = fopen("/modules.list", "r");
	char line[512], opts[1024];

	if (!list) {
		say("no /modules.list");
		return;
	}
	while (fgets(line, sizeof line, list)) {
		char *name = strtok(line, " \n"), *path = strtok(NULL, " \n");
		if (!name || !path)
			continue;
		module_options(name, opts, sizeof opts);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, opts, 0) != 0) {
			if (errno != EEXIST)
				say("module %s: %s", name, strerror(errno));
		}
		if (fd >= 0)
			close(fd);
	}
	fclose(list);
}

static void mount_host_root(void)
{
	const char *p9 = "trans=virtio,version=9p2000.L,msize=512000,cache=loose";

	/* Writable view: an overlay whose upper layer is in the VM's RAM, so
	 * the command may write anywhere (caches, build trees, /tmp) and the host's
	 * files never change. Without overlayfs: read-only, with a fresh /tmp. */
	must_mount("hostroot", "/lower", "9p", MS_RDONLY, p9);
	must_mount("tmpfs", "/rw", "tmpfs", 0, "mode=755");
	mkdir("/rw/upper", 0755);
	mkdir("/rw/work", 0755);
	if (mount("overlay", "/root", "overlay", 0,
		  "lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work") != 0) {
		say("overlay over the host root failed (%s); it stays read-only",
		    strerror(errno));
		must_mount("/lower", "/root", NULL, MS_BIND, NULL);
		must_mount("tmpfs", "/root/tmp", "tmpfs", 0, "mode=1777");
	}
	must_mount("devtmpfs", "/root/dev", "devtmpfs", 0, NULL);
	must_mount("tmpfs", "/root/dev/shm", "tmpfs", 0, "mode=1777");
	must_mount("proc", "/root/proc", "proc", 0, NULL);
	must_mount("sysfs", "/root/sys", "sysfs", 0, NULL);
	must_mount("tmpfs", "/root/run", "tmpfs", 0, "mode=755");
	must_mount("nkvmout", "/root" XDIR, "9p", 0,
		   "trans=virtio,version=9p2000.L,msize=512000");
	if (chroot("/root") != 0 || chdir("/") != 0) {
		say("chroot: %s", strerror(errno));
		halt();
	}
}

static int open_out(const char *name)
{
	char path[256];
	snprintf(path, sizeof path, XDIR "/%s", name);
	return open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
}

static void run_command(void)
{
	struct timespec t0, t1;
	int status = 0;
	pid_t child, pid;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	child = fork();
	if (child == 0) {
		int in = open("/dev/null", O_RDONLY), out = open_out("stdout"),
		    err = open_out("stderr");
		if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 ||
		    dup2(out, 1) < 0 || dup2(err, 2) < 0)
			_exit(127);
		setsid();
		execl("/bin/sh", "sh", XDIR "/cmd.sh", (char *)NULL);
		_exit(127);
	}
	do /* PID 1 also reaps every orphan */
		pid = wait(&status);
	while (pid != child && !(pid < 0 && errno == ECHILD));
	clock_gettime(CLOCK_MONOTONIC, &t1);

	FILE *f = fdopen(open_out("status"), "w");
	if (f) {
		if (WIFSIGNALED(status))
			fprintf(f, "signal %d\n", WTERMSIG(status));
		else
			fprintf(f, "exit %d\n", WEXITSTATUS(status));
		fprintf(f, "seconds %.3f\n",
			(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
		fclose(f);
	}
	say("command finished (status 0x%x)", status);
}

int main(void)
{
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	int fd = open("/proc/cmdline", O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, cmdline, sizeof cmdline - 1);
		cmdline[n > 0 ? n : 0] = 0;
		close(fd);
	}
	load_modules();
	mount_host_root();
	say("host root mounted; running " XDIR "/cmd.sh");
	run_command();
	halt();
}
