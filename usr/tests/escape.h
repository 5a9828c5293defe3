/* The escape suite's shared harness (escape.c) and its attacks (escape_*.c).
 *
 * Every attack gets objects of its own, so that the host can tell which attack
 * changed what: an outside directory OUT/<attack> holding `canary` (outside every
 * mount), a directory RO/<attack> holding `canary` in the read-only mount, a
 * scratch directory RW/<attack> in the writable working directory (created here,
 * and the attack's working directory while it runs), and for attacks on mount
 * roots an empty mount of their own at RW/root-<attack>. */
#ifndef ESCAPE_H
#define ESCAPE_H

#include <stddef.h>

enum root { NO_ROOT, ROOT_RW, ROOT_RO };

struct attack {
	const char *name;
	void (*fn)(void);
	enum root root; /* the attack needs an empty mount of its own, writable or not */
};

/* The attack tables of escape_fd.c, escape_tree.c, escape_paths.c, escape_race.c. */
extern const struct attack fd_attacks[], tree_attacks[], path_attacks[], race_attacks[];

extern int iterations; /* attempts per race attack */

/* Paths of the running attack's objects (each call returns a fresh buffer, 16 live). */
const char *out_path(const char *rest); /* OUT/<attack>/rest, or OUT/<attack> for "" */
const char *ro_path(const char *rest); /* RO/<attack>/rest */
const char *rw_path(const char *rest); /* RW/<attack>/rest: the scratch directory */
const char *root_path(void); /* RW/root-<attack>: its own mount */
const char *scratch_dir(void); /* RW, the working directory of the suite */
const char *ro_dir(void); /* RO, the read-only mount */
const char *ro_rel(void); /* RO relative to the scratch directory ("../data") */
const char *attack_name(void);
/* A path from a format (a fresh buffer, as above). */
const char *fmt_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A setup step that must work for the attack to be tried at all; on failure the
 * attack reports BROKEN and returns. */
#define SETUP(x) \
	do { \
		if (!setup_ok((long)(x), #x)) \
			return; \
	} while (0)
int setup_ok(long ret, const char *what);

/* A step the sandbox must refuse: 1 when it failed (the first errno is the attack's
 * answer), 0 when it worked (the attack escaped; `step` is recorded). */
int must_fail(long ret, const char *step);

/* Record an escape, or a note on a refusal (e.g. "set-id bits dropped"). */
void escaped(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The guest cannot judge this attack; the host checks its side (the test knows how). */
void host_check(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Read what fd holds (up to 64 bytes) into the escape record, then close it. */
void leak(int fd, const char *how);
/* Write a marker through fd (proof of a write), then close it. */
void scribble(int fd, const char *how);
/* Open `path` with `flags` where the sandbox must refuse; an fd is an escape,
 * read (O_RDONLY) or written (otherwise) to show it.  Returns the fd's errno or 0. */
int must_not_open(const char *path, int flags, const char *step);

/* A file with these contents at path (in the scratch directory); 0 or -1. */
int make_file(const char *path, const char *contents);
/* The inode of path (0 when it cannot be stat'ed). */
unsigned long inode_of(const char *path);

#endif
