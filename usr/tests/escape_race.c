/* Symlink-swap races: a second thread (on the second vCPU with HERMIT_CPUS=2) flips a
 * symlink between a harmless target in the scratch directory and one outside or in
 * the read-only mount, while this thread opens, writes, chmods, creates or links
 * through it.  A check of the path followed by a use of it loses such a race now and
 * then; each attack makes `iterations` attempts and stops at the first escape. */
#define _GNU_SOURCE
#include "escape.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define FUTEX_WAIT_PRIVATE 128 /* musl has no <linux/futex.h> */
#define FUTEX_WAKE_PRIVATE 129

struct flip {
	const char *link, *a, *b;
	atomic_int stop;
	atomic_int flips, attempts;
};

/* The kernel lock is not fair: a thread that keeps making calls can starve the other
 * for long.  So neither runs more than SLACK steps ahead of the other: it waits
 * (boundedly, at most 50 ms) until the other's counter reaches `least`, on a futex
 * rather than spinning, which would take the host cpu the other vCPU needs. */
#define SLACK 8

static void await(atomic_int *counter, int least)
{
	const struct timespec ms = {0, 1000000};

	for (int spin = 0; spin < 200 && atomic_load(counter) < least; spin++)
		__builtin_ia32_pause();
	for (int n = 0; n < 50; n++) {
		int now = atomic_load(counter);
		if (now >= least)
			return;
		syscall(SYS_futex, counter, FUTEX_WAIT_PRIVATE, now, &ms);
	}
}

static void bump(atomic_int *counter)
{
	atomic_fetch_add(counter, 1);
	syscall(SYS_futex, counter, FUTEX_WAKE_PRIVATE, 1);
}

static void *flipper(void *arg)
{
	struct flip *f = arg;
	unsigned x = 2463534242u; /* xorshift: the threads may fall into step, so which
				   * target a flip sets must not follow from its number */

	for (int i = 1; !atomic_load(&f->stop); i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		if (symlink(x & 1 ? f->b : f->a, "flip.tmp") == 0 && rename("flip.tmp", f->link) == 0)
			bump(&f->flips);
		else
			unlink("flip.tmp");
		await(&f->attempts, i - SLACK);
	}
	return NULL;
}

static unsigned long harmless_ino; /* the inode every legitimate attempt reaches */

/* One attempt: -1 refused (errno set), 0 reached the harmless target, 1 escaped. */
typedef int (*attempt)(int i);

static void race(const char *link, const char *harmless, const char *target, attempt fn)
{
	struct flip f = {.link = link, .a = harmless, .b = target};
	pthread_t t;
	long hits = 0, refusals = 0;
	int i, out = 0;

	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	SETUP(symlink(harmless, link));
	SETUP(pthread_create(&t, NULL, flipper, &f) ? -1 : 0);
	for (i = 0; i < iterations && !out; i++) {
		await(&f.flips, i - SLACK);
		bump(&f.attempts);
		int r = fn(i);
		if (r < 0)
			refusals += must_fail(-1, "");
		hits += r == 0;
		out = r > 0;
	}
	atomic_store(&f.stop, 1);
	pthread_join(t, NULL);
	if (out) {
		note("attempt %d", i);
		return;
	}
	if (atomic_load(&f.flips) < i / 2) {
		errno = EAGAIN;
		setup_ok(-1, "a flipper that keeps flipping"); /* the race did not run: no result */
		note("%d flips in %d attempts", atomic_load(&f.flips), i);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	note("%d attempts: %ld harmless, %ld refused, %d flips, %ld ms", i, hits, refusals,
	     atomic_load(&f.flips),
	     (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
}

/* An fd reached through the racing link: harmless, or shown (read or written). */
static int judge_fd(int fd, int write)
{
	struct stat st;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0 && st.st_ino == harmless_ino) {
		close(fd);
		return 0;
	}
	(write ? scribble : leak)(fd, "open through the flipping link");
	return 1;
}

static int open_read(int i) { (void)i; return judge_fd(open("rl", O_RDONLY), 0); }
static int open_write(int i) { (void)i; return judge_fd(open("rl", O_WRONLY | O_APPEND), 1); }
static int dir_read(int i) { (void)i; return judge_fd(open("rd/canary", O_RDONLY), 0); }

static int dir_create(int i)
{
	(void)i;
	return judge_fd(open("rd/new", O_CREAT | O_WRONLY, 0644), 1);
}

/* Modes other than the ro file's 0644: a chmod that reaches it shows. */
static int chmod_link(int i) { return chmod("rl", i % 2 ? 0600 : 0640) ? -1 : 0; }

static int link_follow(int i)
{
	(void)i;
	if (linkat(AT_FDCWD, "rl", AT_FDCWD, "hl", AT_SYMLINK_FOLLOW))
		return -1;
	unsigned long ino = inode_of("hl");
	if (ino == harmless_ino) {
		unlink("hl");
		return 0;
	}
	must_fail(chmod("hl", 0777), "linkat through the flipping link, then chmod");
	return 1;
}

static int file_race(const char *target, attempt fn)
{
	if (make_file("h", "harmless\n"))
		return -1;
	harmless_ino = inode_of("h");
	race("rl", "h", target, fn);
	return 0;
}

static int dir_race(const char *target, attempt fn)
{
	if (mkdir("hd", 0755) || make_file("hd/canary", "harmless\n") ||
	    make_file("hd/new", ""))
		return -1;
	harmless_ino = inode_of(fn == dir_read ? "hd/canary" : "hd/new");
	race("rd", "hd", target, fn);
	return 0;
}

static void race_read_out(void) { SETUP(file_race(out_path("canary"), open_read)); }
static void race_write_out(void) { SETUP(file_race(out_path("canary"), open_write)); }
static void race_write_ro(void) { SETUP(file_race(ro_path("canary"), open_write)); }
static void race_dir_read_out(void) { SETUP(dir_race(out_path(""), dir_read)); }
static void race_link_ro(void) { SETUP(file_race(ro_path("canary"), link_follow)); }

static void race_chmod_ro(void)
{
	struct stat before, after;

	SETUP(stat(ro_path("canary"), &before));
	SETUP(file_race(ro_path("canary"), chmod_link));
	SETUP(stat(ro_path("canary"), &after));
	if (after.st_mode != before.st_mode)
		escaped("the ro file's mode went from %04o to %04o", before.st_mode & 07777,
			after.st_mode & 07777);
}

static void race_create_ro(void)
{
	struct stat st;

	SETUP(dir_race(ro_path(""), dir_create));
	if (stat(ro_path("new"), &st) == 0)
		escaped("a file was created in the ro mount");
}

const struct attack race_attacks[] = {
	{"race-read-out", race_read_out, NO_ROOT},
	{"race-write-out", race_write_out, NO_ROOT},
	{"race-write-ro", race_write_ro, NO_ROOT},
	{"race-dir-read-out", race_dir_read_out, NO_ROOT},
	{"race-create-ro", race_create_ro, NO_ROOT},
	{"race-chmod-ro", race_chmod_ro, NO_ROOT},
	{"race-link-ro", race_link_ro, NO_ROOT},
	{0},
};
