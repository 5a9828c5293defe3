/* TEST ONLY until the network stack lands (then dropped with drivers/net/selftest.c):
 * asks the kernel's NIC selftest to send argv[1] (default 3) ARP requests for the
 * gateway and prints how many were answered; exit 0 when all were. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define SYS_hermit_net_selftest 511

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 3;
	long r = syscall(SYS_hermit_net_selftest, n);

	if (r < 0) {
		perror("net selftest");
		return 2;
	}
	printf("net selftest: %ld of %ld answered\n", r, n);
	return r == n ? 0 : 1;
}
