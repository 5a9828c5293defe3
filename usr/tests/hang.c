/* Never exits: for loader timeouts. */
#include <stdio.h>

int main(void)
{
	printf("hanging\n");
	fflush(stdout);
	for (volatile unsigned long i = 0;; i++)
		;
}
