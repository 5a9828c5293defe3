/* Faults on purpose: a write through a null pointer (for crash reports). */
#include <stdio.h>

__attribute__((noinline)) void write_through(volatile int *p)
{
	*p = 42;
}

int main(void)
{
	printf("about to dereference NULL\n");
	fflush(stdout);
	write_through((volatile int *)0);
	printf("survived?\n");
	return 0;
}
