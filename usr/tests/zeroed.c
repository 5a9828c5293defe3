/* Fresh anonymous memory reads zero, whatever the loader left in guest memory before
 * boot (uhyve places argv and envp there): mmap 1 to 32 pages twice, each checked
 * byte by byte, then dirtied and unmapped so the next round reuses the pages.
 * Prints "zeroed ok", or the first non-zero byte and exits 1. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
	long page = sysconf(_SC_PAGESIZE);

	for (int round = 0; round < 2; round++) {
		for (long n = 1; n <= 32; n++) {
			unsigned char *p = mmap(NULL, n * page, PROT_READ | PROT_WRITE,
						MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED) {
				perror("mmap");
				return 1;
			}
			for (long i = 0; i < n * page; i++) {
				if (p[i]) {
					printf("round %d: %ld pages at %p: byte %ld is %#x\n", round, n,
					       (void *)p, i, p[i]);
					return 1;
				}
			}
			memset(p, 0xa5, n * page);
			munmap(p, n * page);
		}
	}
	puts("zeroed ok");
	return 0;
}
