/* The escape suite: every way out of the file sandbox we know of, tried from inside.
 *
 *   escape [--list] [-n ITERATIONS] OUT RW RO [ATTACK...]
 *
 * OUT is a host directory outside every mount (the host made OUT/<attack>/canary),
 * RW the writable working directory, RO a read-only mount inside it (the host made
 * RO/<attack>/canary); all absolute guest paths.  With ATTACKs, only those run.
 * Prints one line per attack,
 *   ATTACK <name>: refused (<errno or how>)
 *   ATTACK <name>: ESCAPED (<what worked>)
 *   ATTACK <name>: host-check (<what was done>)    -- only the host can tell
 *   ATTACK <name>: BROKEN (<setup step that failed>)
 * then `SUITE <n> attacks, <m> escaped`; the exit status is 1 when one escaped.
 * --list prints the attack names, each with `rw` or `ro` when the attack needs an
 * empty mount of its own at RW/root-<attack>. */
#define _GNU_SOURCE
#include "escape.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int iterations = 2000;

static const char *out_dir, *rw_dir, *ro_mount, *cur;
static struct {
	int err; /* the first errno of a refused step */
	int broken, escaped, host;
	char text[768];
} rec;

static void add(const char *fmt, va_list ap)
{
	size_t n = strlen(rec.text);

	if (n && n < sizeof(rec.text) - 2)
		n += (size_t)snprintf(rec.text + n, sizeof(rec.text) - n, "; ");
	if (n < sizeof(rec.text))
		vsnprintf(rec.text + n, sizeof(rec.text) - n, fmt, ap);
}

#define RECORD(flag) \
	do { \
		va_list ap; \
		va_start(ap, fmt); \
		add(fmt, ap); \
		va_end(ap); \
		rec.flag = 1; \
	} while (0)

void escaped(const char *fmt, ...) { RECORD(escaped); }
void host_check(const char *fmt, ...) { RECORD(host); }

void note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	add(fmt, ap);
	va_end(ap);
}

static const char *errname(int e)
{
	static const struct { int e; const char *name; } names[] = {
		{EACCES, "EACCES"}, {EROFS, "EROFS"}, {ENOENT, "ENOENT"}, {EXDEV, "EXDEV"},
		{EBUSY, "EBUSY"}, {EINVAL, "EINVAL"}, {EPERM, "EPERM"}, {ENOTDIR, "ENOTDIR"},
		{ELOOP, "ELOOP"}, {EEXIST, "EEXIST"}, {ENAMETOOLONG, "ENAMETOOLONG"},
		{ENOTEMPTY, "ENOTEMPTY"}, {EISDIR, "EISDIR"}, {EBADF, "EBADF"}, {ENOSYS, "ENOSYS"},
		{EFAULT, "EFAULT"}, {EOPNOTSUPP, "EOPNOTSUPP"}, {EAGAIN, "EAGAIN"}, {ENXIO, "ENXIO"},
		{EMLINK, "EMLINK"}, {EIO, "EIO"}, {ENODEV, "ENODEV"}, {ETXTBSY, "ETXTBSY"},
	};
	static char other[24];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].e == e)
			return names[i].name;
	snprintf(other, sizeof(other), "errno %d", e);
	return other;
}

int setup_ok(long ret, const char *what)
{
	if (ret != -1)
		return 1;
	char msg[160];
	snprintf(msg, sizeof(msg), "setup %s: %s", what, errname(errno));
	note("%s", msg);
	rec.broken = 1;
	return 0;
}

int must_fail(long ret, const char *step)
{
	if (ret == -1) {
		if (!rec.err)
			rec.err = errno;
		return 1;
	}
	escaped("%s worked", step);
	return 0;
}

/* Printable text of what a read returned, for the record (the host looks for its canaries). */
static void show(const char *how, const char *buf, ssize_t n)
{
	char text[65];
	ssize_t i;

	for (i = 0; i < n && i < 64; i++)
		text[i] = buf[i] >= 0x20 && buf[i] < 0x7f ? buf[i] : '.';
	text[i] = 0;
	escaped("%s: read '%s'", how, text);
}

void leak(int fd, const char *how)
{
	char buf[64];
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		DIR *d = fdopendir(fd);
		struct dirent *e;
		char names[64] = "";
		while (d && (e = readdir(d)))
			if (strlen(names) + strlen(e->d_name) + 2 < sizeof(names))
				strcat(strcat(names, e->d_name), " ");
		escaped("%s: a directory holding '%s'", how, names);
		if (d)
			closedir(d);
		return;
	}
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n >= 0)
		show(how, buf, n);
	else
		escaped("%s: opened (read: %s)", how, errname(errno));
	close(fd);
}

void scribble(int fd, const char *how)
{
	static const char mark[] = "escape suite was here\n";
	ssize_t n = write(fd, mark, sizeof(mark) - 1);

	escaped("%s: opened for writing (write: %s)", how, n > 0 ? "ok" : errname(errno));
	close(fd);
}

int must_not_open(const char *path, int flags, const char *step)
{
	int fd = open(path, flags, 0644);

	if (fd < 0)
		return must_fail(fd, step), errno;
	if ((flags & O_ACCMODE) == O_RDONLY)
		leak(fd, step);
	else
		scribble(fd, step);
	return 0;
}

int make_file(const char *path, const char *contents)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, contents, strlen(contents));
	close(fd);
	return n == (ssize_t)strlen(contents) ? 0 : -1;
}

unsigned long inode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (unsigned long)st.st_ino : 0;
}

static char *buffer(void)
{
	static char bufs[16][8192];
	static int next;
	return bufs[next++ % 16];
}

const char *fmt_path(const char *fmt, ...)
{
	char *p = buffer();
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p, 8192, fmt, ap);
	va_end(ap);
	return p;
}

static const char *joined(const char *fmt, const char *a, const char *b, const char *c)
{
	char *p = (char *)fmt_path(fmt, a, b, c);
	size_t n = strlen(p);

	if (n && p[n - 1] == '/')
		p[n - 1] = 0; /* "" as rest names the directory itself */
	return p;
}

const char *out_path(const char *rest) { return joined("%s/%s/%s", out_dir, cur, rest); }
const char *ro_path(const char *rest) { return joined("%s/%s/%s", ro_mount, cur, rest); }
const char *rw_path(const char *rest) { return joined("%s/%s/%s", rw_dir, cur, rest); }
const char *root_path(void) { return joined("%s/root-%s%s", rw_dir, cur, ""); }
const char *scratch_dir(void) { return rw_dir; }
const char *ro_dir(void) { return ro_mount; }
const char *attack_name(void) { return cur; }

const char *ro_rel(void)
{
	size_t n = strlen(rw_dir);
	if (!strncmp(ro_mount, rw_dir, n) && ro_mount[n] == '/')
		return fmt_path("../%s", ro_mount + n + 1);
	return ro_mount;
}

/* The tree attacks last: the last of them would take the ro mount from those after. */
static const struct attack *const tables[] = {fd_attacks, path_attacks, race_attacks,
					      tree_attacks};

static int selected(const char *name, int argc, char **argv)
{
	if (argc == 0)
		return 1;
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], name))
			return 1;
	return 0;
}

/* Run one attack from a scratch directory of its own; 1 when it escaped. */
static int run(const struct attack *a)
{
	memset(&rec, 0, sizeof(rec));
	cur = a->name;
	if (chdir(rw_dir) || (mkdir(rw_path(""), 0755) && errno != EEXIST) || chdir(rw_path(""))) {
		printf("ATTACK %s: BROKEN (scratch directory: %s)\n", a->name, errname(errno));
		return 0;
	}
	a->fn();
	if (rec.broken)
		printf("ATTACK %s: BROKEN (%s)\n", a->name, rec.text);
	else if (rec.escaped)
		printf("ATTACK %s: ESCAPED (%s)\n", a->name, rec.text);
	else if (rec.host)
		printf("ATTACK %s: host-check (%s)\n", a->name, rec.text);
	else if (rec.err)
		printf("ATTACK %s: refused (%s%s%s)\n", a->name, errname(rec.err),
		       rec.text[0] ? "; " : "", rec.text);
	else if (rec.text[0])
		printf("ATTACK %s: refused (%s)\n", a->name, rec.text);
	else
		printf("ATTACK %s: BROKEN (no step recorded an outcome)\n", a->name);
	if (chdir(rw_dir))
		printf("SUITE lost its working directory: %s\n", errname(errno));
	return rec.escaped && !rec.broken;
}

int main(int argc, char **argv)
{
	int list = 0, count = 0, escapes = 0;

	setvbuf(stdout, NULL, _IOLBF, 0); /* every line out before a loader could fall over */
	for (; argc > 1 && argv[1][0] == '-'; argc--, argv++) {
		if (!strcmp(argv[1], "--list"))
			list = 1;
		else if (!strcmp(argv[1], "-n") && argc > 2)
			iterations = atoi(argv[2]), argc--, argv++;
		else
			return fprintf(stderr, "escape: unknown option %s\n", argv[1]), 2;
	}
	for (size_t t = 0; list && t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct attack *a = tables[t]; a->name; a++)
			printf("%s%s\n", a->name, a->root == ROOT_RW ? " rw" : a->root == ROOT_RO ? " ro" : "");
	if (list)
		return 0;
	if (argc < 4)
		return fprintf(stderr, "usage: escape [--list] [-n N] OUT RW RO [ATTACK...]\n"), 2;
	out_dir = argv[1], rw_dir = argv[2], ro_mount = argv[3];
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct attack *a = tables[t]; a->name; a++)
			if (selected(a->name, argc - 4, argv + 4)) {
				count++;
				escapes += run(a);
			}
	printf("SUITE %d attacks, %d escaped\n", count, escapes);
	return escapes != 0;
}
