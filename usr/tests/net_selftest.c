/* TEST ONLY until the network stack lands (then dropped with drivers/net/selftest.c):
 * asks the kernel's NIC selftest to send argv[1] (default 3) ARP requests for the
 * gateway and prints how many were answered; exit 0 when all were.  With argv[2], a
 * port: then waits up to 60 s for a TCP SYN to it (a forwarded host port); argv[2]
 * "burst": the requests go out at once (exit 0 when at least half were answered);
 * "connect" PORT: then a TCP SYN to 10.0.2.2:PORT, the host's loopback port (exit 0
 * when a SYN-ACK came within 2 s). */
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define SYS_hermit_net_selftest 511

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 3;
	int burst = argc > 2 && !strcmp(argv[2], "burst");
	int connect = argc > 3 && !strcmp(argv[2], "connect");
	long port = argc > 2 && !burst && !connect ? atol(argv[2]) : 0;

	if (connect) {
		long r = syscall(SYS_hermit_net_selftest, n, 0L, 2L, 0L, atol(argv[3]));
		if (r < 0) {
			perror("net selftest");
			return 2;
		}
		printf("net selftest: %s from 10.0.2.2:%s\n", r ? "SYN-ACK" : "no SYN-ACK", argv[3]);
		return r ? 0 : 1;
	}
	long r = syscall(SYS_hermit_net_selftest, n, 0L, 0L, (long)burst, 0L);

	if (r >= 0 && burst) {
		printf("net selftest: burst of %ld, %ld answered\n", n, r);
		return 2 * r >= n ? 0 : 1;
	}
	if (r >= 0 && port) {
		printf("net selftest: %ld of %ld answered\n", r, n);
		fflush(stdout);
		r = syscall(SYS_hermit_net_selftest, 0L, port, 60L, 0L, 0L);
		if (r >= 0)
			printf("net selftest: %s to port %ld\n", r ? "SYN" : "no SYN", port);
		return r == 1 ? 0 : 1;
	}
	if (r < 0) {
		perror("net selftest");
		return 2;
	}
	printf("net selftest: %ld of %ld answered\n", r, n);
	return r == n ? 0 : 1;
}
