/* PROT_NONE as musl's thread stacks use it, and what must stay true whatever the
 * kernel defers: pages opened by mprotect read as zero, even when their frames
 * held data before (the previous mapping's); mprotect(PROT_NONE) then back keeps
 * the data; munmap and map again gives zeros.  A page left PROT_NONE faulting is
 * what crash_stack's "thread" mode checks.
 * One line per check, "not ok" on failure; exit status: the number of failures. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096
#define PAGES 33

static int checks, failures;

static void check(int ok, const char *what)
{
	checks++;
	failures += !ok;
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* mmap PROT_NONE, open all but the first page (a guard), as pthread_create does. */
static unsigned char *stack_like(void)
{
	unsigned char *p = mmap(0, PAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || mprotect(p + PAGE, (PAGES - 1) * PAGE, PROT_READ | PROT_WRITE))
		return 0;
	return p;
}

int main(void)
{
	for (int round = 0; round < 3; round++) { /* the same frames come back each round */
		unsigned char *p = stack_like();
		check(p && all_zero(p + PAGE, (PAGES - 1) * PAGE), "opened pages read as zero");
		if (!p)
			return 1;
		memset(p + PAGE, 0xaa, (PAGES - 1) * PAGE);
		check(mprotect(p, PAGE, PROT_READ | PROT_WRITE) == 0 && all_zero(p, PAGE),
		      "the guard page opened later reads as zero");
		memset(p, 0xbb, PAGE);
		munmap(p, PAGES * PAGE);
	}

	unsigned char *q = mmap(0, PAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	getppid(); /* another system call in between */
	check(q != MAP_FAILED && mprotect(q, PAGES * PAGE, PROT_READ | PROT_WRITE) == 0 &&
		      all_zero(q, PAGES * PAGE),
	      "PROT_NONE, another call, then opened: zero");
	memset(q, 0xcc, PAGES * PAGE);
	check(mprotect(q, PAGES * PAGE, PROT_NONE) == 0 &&
		      mprotect(q, PAGES * PAGE, PROT_READ | PROT_WRITE) == 0 && q[0] == 0xcc &&
		      q[PAGES * PAGE - 1] == 0xcc,
	      "data survives PROT_NONE and back");
	munmap(q, PAGES * PAGE);
	printf("prot_none: %d checks, %d failed\n", checks, failures);
	return failures;
}
