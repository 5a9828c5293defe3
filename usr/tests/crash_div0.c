/* Faults on purpose: an integer division by zero (#DE). */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) int divide(int a, int b)
{
	return a / b;
}

int main(int argc, char **argv)
{
	(void)argv;
	int zero = argc - 1; /* 0 unless arguments are given */
	printf("result %d\n", divide(42, zero));
	return 0;
}
