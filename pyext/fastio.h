/* What _hermit_fastio's two halves share: the transfers and the mailbox's layout. */
#ifndef HERMIT_FASTIO_H
#define HERMIT_FASTIO_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

enum { OP_READ, OP_WRITE, OP_PREAD, OP_PWRITE };

/* struct hc_slot (gpa, nr, seq, done) and struct hc_syscall (nr, a0-a5, ret, node),
 * in u64 words; poller.py checks them against hermit_build/abi/spec.py */
enum { SLOT_GPA, SLOT_NR, SLOT_SEQ, SLOT_DONE, SLOT_WORDS };
enum { SC_NR, SC_A0, SC_RET = 7, SC_NODE, SC_WORDS };

/* One read/write/pread/pwrite with one iovec: the very system calls the Python
 * path makes (os.readv & co.).  The byte count, or -1 with errno set. */
static inline ssize_t fastio_xfer(int op, int fd, char *at, uint64_t count, uint64_t offset)
{
	struct iovec iov = {.iov_base = at, .iov_len = count};

	switch (op) {
	case OP_READ:
		return readv(fd, &iov, 1);
	case OP_WRITE:
		return writev(fd, &iov, 1);
	case OP_PREAD:
		return preadv(fd, &iov, 1, (off_t)offset);
	default:
		return pwritev(fd, &iov, 1, (off_t)offset);
	}
}

/* Guest RAM as GuestMemory.regions gives it, held (Py_buffer) so that it stays mapped
 * while compiled code uses it without the GIL. */
#define FASTIO_MAX_REGIONS 8

struct region {
	uint64_t gpa, size;
	char *host;
};

struct guest {
	Py_buffer views[FASTIO_MAX_REGIONS];
	struct region regions[FASTIO_MAX_REGIONS];
	int n;
};

int fastio_guest_open(struct guest *g, PyObject *regions); /* 0, or -1 with an exception */
void fastio_guest_close(struct guest *g);

/* The host address of [gpa, gpa+len) when it lies wholly inside one region, else NULL */
static inline char *fastio_at(const struct guest *g, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < g->n; i++) {
		const struct region *r = &g->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

extern PyTypeObject fastio_server_type, fastio_sampler_type;
extern PyTypeObject fastio_pump_type;

#endif
