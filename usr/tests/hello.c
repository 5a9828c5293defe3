/* The demo, as HermitCore's: greet, show the arguments and the host name. */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char hostname[64] = "";

	printf("Hello World!!!\n");
	for (int i = 0; i < argc; i++)
		printf("argv[%d] = %s\n", i, argv[i]);
	if (gethostname(hostname, sizeof(hostname)) == 0)
		printf("Hostname: %s\n", hostname);
	return 0;
}
