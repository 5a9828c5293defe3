/* For the debugger's tests (tests/test_gdb.py): a function called three times, a
 * local and a global to print and watch.  Built without optimization. */
#include <stdio.h>

int global_value = 42;
static volatile int calls;

__attribute__((noinline)) int add(int a, int b)
{
	int sum = a + b;

	calls++;
	return sum;
}

int main(void)
{
	int total = 0;

	for (int i = 0; i < 3; i++)
		total = add(total, i + 1);
	global_value = total;
	printf("total %d, global %d, calls %d\n", total, global_value, calls);
	return 0;
}
