/* File throughput: write a file of MIB MiB in CHUNK-byte write() calls, fsync, close,
 * read it back in CHUNK-byte read() calls, verify its checksum, unlink it.
 *
 *     fileio PATH [MIB (256)] [CHUNK (1048576)]
 *
 * Each phase is timed as a whole with CLOCK_MONOTONIC: the write loop (which only
 * stamps each chunk's offset into its first word), the fsync, and the read loop (which
 * only reads).  The expected checksum is computed before the write loop and checked by
 * a second, untimed read, so checksumming costs nothing in the figures.  Prints one
 * machine-readable line:
 *
 *     fileio mib=256 chunk=1048576 write_calls=256 read_calls=257 write_s=... fsync_s=...
 *         read_s=... write_mib_s=... write_fsync_mib_s=... read_mib_s=... checksum=...
 *
 * Exit status 0 on success, 1 on an I/O error or a checksum mismatch, 2 for bad
 * arguments.  The same source builds for hermit and natively (musl-gcc -static). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024ULL * 1024)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "fileio: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

/* Order-dependent checksum of whole 64-bit words (lengths are multiples of 8). */
static uint64_t checksum(uint64_t sum, const unsigned char *p, size_t len)
{
	for (size_t i = 0; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		sum = (sum ^ w) * 0x100000001b3ULL;
	}
	return sum;
}

/* Deterministic, incompressible-looking content; the first word of every chunk is
 * stamped with the chunk's offset, so chunks differ and misplaced data is caught. */
static void fill(unsigned char *buf, size_t len)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (size_t i = 0; i + 8 <= len; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
}

static int parse(const char *s, unsigned long long lo, unsigned long long hi,
		 unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end || *out < lo || *out > hi;
}

static int write_all(int fd, const unsigned char *buf, size_t len, unsigned long *calls)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		++*calls;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One read() per call until the end of the file; the bytes read, or -1.  With
 * sum != NULL, also checksums every chunk (which the file's chunks must fill). */
static long long read_file(int fd, unsigned char *buf, size_t chunk, unsigned long *calls,
			   uint64_t *sum)
{
	long long got = 0;

	for (;;) {
		size_t have = 0;
		while (have < chunk) {
			ssize_t n = read(fd, buf + have, chunk - have);
			++*calls;
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -1;
			if (n == 0)
				break;
			have += (size_t)n;
		}
		if (sum)
			*sum = checksum(*sum, buf, have);
		got += (long long)have;
		if (have < chunk)
			return got;
	}
}

struct run {
	const char *path;
	unsigned long long total, chunk;
	unsigned char *buf, *pattern;
	uint64_t write_ns, fsync_ns, read_ns, sum;
	unsigned long write_calls, read_calls;
};

static size_t chunk_at(const struct run *r, unsigned long long off)
{
	return (size_t)(r->total - off < r->chunk ? r->total - off : r->chunk);
}

/* What the file will hold: the pattern, each chunk stamped with its offset. */
static uint64_t expected_sum(struct run *r)
{
	uint64_t sum = 0xcbf29ce484222325ULL;

	for (unsigned long long off = 0; off < r->total; off += r->chunk) {
		memcpy(r->pattern, &off, 8);
		sum = checksum(sum, r->pattern, chunk_at(r, off));
	}
	return sum;
}

static int write_phase(struct run *r)
{
	int fd = open(r->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail("cannot create", r->path);
	uint64_t t0 = now_ns();
	for (unsigned long long off = 0; off < r->total; off += r->chunk) {
		memcpy(r->pattern, &off, 8);
		if (write_all(fd, r->pattern, chunk_at(r, off), &r->write_calls))
			return fail("cannot write", r->path);
	}
	uint64_t t1 = now_ns();
	if (fsync(fd))
		return fail("cannot fsync", r->path);
	r->fsync_ns = now_ns() - t1;
	r->write_ns = t1 - t0;
	return close(fd) ? fail("cannot close", r->path) : 0;
}

static int read_phase(struct run *r)
{
	unsigned long verify_calls = 0;
	uint64_t sum = 0xcbf29ce484222325ULL;
	int fd = open(r->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("cannot open", r->path);
	uint64_t t0 = now_ns();
	long long got = read_file(fd, r->buf, r->chunk, &r->read_calls, NULL);
	r->read_ns = now_ns() - t0;
	if (got < 0)
		return fail("cannot read", r->path);
	if (lseek(fd, 0, SEEK_SET) != 0 || read_file(fd, r->buf, r->chunk, &verify_calls, &sum) < 0)
		return fail("cannot read again", r->path);
	close(fd);
	if ((unsigned long long)got != r->total || sum != r->sum) {
		fprintf(stderr, "fileio: read back %lld of %llu bytes, checksum %016llx, expected "
				"%016llx\n", got, r->total, (unsigned long long)sum,
			(unsigned long long)r->sum);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long long mib = 256, chunk = MIB;

	if (argc < 2 || argc > 4 || (argc > 2 && parse(argv[2], 1, 1 << 20, &mib)) ||
	    (argc > 3 && parse(argv[3], 8, 1 << 30, &chunk)) || chunk % 8) {
		fprintf(stderr, "usage: fileio PATH [MIB (1..1048576)] [CHUNK-BYTES (a multiple "
				"of 8, 8..2^30)]\n");
		return 2;
	}
	struct run r = { .path = argv[1], .total = mib * MIB, .chunk = chunk,
			 .buf = malloc(chunk), .pattern = malloc(chunk) };
	if (!r.buf || !r.pattern) {
		fprintf(stderr, "fileio: cannot allocate two buffers of %llu bytes\n", chunk);
		return 1;
	}
	fill(r.pattern, chunk);
	r.sum = expected_sum(&r);
	int err = write_phase(&r) || read_phase(&r);
	if (unlink(r.path) && !err)
		err = fail("cannot remove", r.path);
	if (err)
		return 1;

	double ws = r.write_ns / 1e9, fs = r.fsync_ns / 1e9, rs = r.read_ns / 1e9;
	printf("fileio mib=%llu chunk=%llu write_calls=%lu read_calls=%lu write_s=%.6f "
	       "fsync_s=%.6f read_s=%.6f write_mib_s=%.1f write_fsync_mib_s=%.1f "
	       "read_mib_s=%.1f checksum=%016llx\n",
	       mib, chunk, r.write_calls, r.read_calls, ws, fs, rs, ws > 0 ? mib / ws : 0.0,
	       ws + fs > 0 ? mib / (ws + fs) : 0.0, rs > 0 ? mib / rs : 0.0,
	       (unsigned long long)r.sum);
	free(r.buf);
	free(r.pattern);
	return 0;
}
