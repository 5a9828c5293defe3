/*
 * _hermit_fastio: the file service's commonest transfers (read, write, pread64,
 * pwrite64 on a plain host fd) in compiled code.  The pure-Python path
 * (hostfs/ops_io.py) stays the reference and the fallback; tests run both on the
 * same calls and compare results and guest memory byte for byte.
 *
 *     rw(regions, op, fd, addr, count, offset) -> int
 *
 * `regions` is GuestMemory.regions: (gpa, size, buffer, offset into buffer) for
 * each block of guest RAM.  [addr, addr+count) must lie wholly inside one block
 * (GuestMemory.view's rule), or the answer is -EFAULT and the host is not called.
 * `fd` is the host fd the caller has pinned against a concurrent close
 * (hostfs/blocking.py), never anything the guest chose.  The buffer is held for the
 * call (so guest RAM cannot be unmapped under it) and the GIL released around the
 * host system call.  The result is the byte count or Linux's -errno.
 *
 *     wait_slot(regions, mailbox, slots, nr, skip, flag, spin_ns) -> int
 *
 * The uhyve poller's wait (uhyve/poller.py): the index of a mailbox slot (struct
 * hc_slot: gpa, nr, seq, done) whose call numbered `nr` waits (seq != done), not in
 * the bit mask `skip` (the slots being served), spinning without the GIL for at
 * most spin_ns; then it clears the u64 at `flag` (boot_info.hc_poll), fences, and
 * looks once more: a kernel that read the flag set before it was cleared stored its
 * seq before that read, so one of the two sees the other.  -1: nothing came (the
 * flag stays clear); -2: the mailbox or the flag lies outside guest memory.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

enum { OP_READ, OP_WRITE, OP_PREAD, OP_PWRITE };

/* The buffer of the region holding [addr, addr+count), and its host address in *at;
 * 0 when there is none (a guest fault), -1 with a Python exception set when
 * `regions` is not what GuestMemory holds (a loader bug, never the guest's doing). */
static int find_region(PyObject *regions, uint64_t addr, uint64_t count, Py_buffer *view,
		       char **at)
{
	PyObject *seq = PySequence_Fast(regions, "regions must be a sequence");
	if (!seq)
		return -1;
	Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
	PyObject **items = PySequence_Fast_ITEMS(seq);
	int found = 0;

	for (Py_ssize_t i = 0; i < n && !found; i++) {
		unsigned long long start, size;
		Py_ssize_t off;
		PyObject *buf;

		if (!PyArg_ParseTuple(items[i], "KKOn", &start, &size, &buf, &off))
			goto fail;
		/* start <= addr and addr + count <= start + size, without overflow */
		if (addr < start || addr - start > size || count > size - (addr - start))
			continue;
		if (PyObject_GetBuffer(buf, view, PyBUF_WRITABLE) < 0)
			goto fail;
		uint64_t o = (uint64_t)off + (addr - start);
		if (off < 0 || o > (uint64_t)view->len || count > (uint64_t)view->len - o) {
			PyBuffer_Release(view);
			PyErr_SetString(PyExc_ValueError, "guest memory region larger than its buffer");
			goto fail;
		}
		*at = (char *)view->buf + o;
		found = 1;
	}
	Py_DECREF(seq);
	return found;
fail:
	Py_DECREF(seq);
	return -1;
}

static PyObject *fastio_rw(PyObject *self, PyObject *args)
{
	PyObject *regions;
	int op, fd;
	unsigned long long addr, count, offset;
	(void)self;

	if (!PyArg_ParseTuple(args, "OiiKKK", &regions, &op, &fd, &addr, &count, &offset))
		return NULL;
	if (op < OP_READ || op > OP_PWRITE) {
		PyErr_SetString(PyExc_ValueError, "unknown operation");
		return NULL;
	}
	if (count > SSIZE_MAX)
		return PyLong_FromLong(-EINVAL);
	Py_buffer view;
	char *at = NULL;
	int r = find_region(regions, addr, count, &view, &at);
	if (r < 0)
		return NULL;
	if (r == 0)
		return PyLong_FromLong(-EFAULT);
	/* Python's os.preadv takes an off_t: an offset past its range is EINVAL there */
	if ((op == OP_PREAD || op == OP_PWRITE) && offset > INT64_MAX) {
		PyBuffer_Release(&view);
		return PyLong_FromLong(-EINVAL);
	}
	/* one iovec: the very system calls the Python path makes (os.readv & co.) */
	struct iovec iov = {.iov_base = at, .iov_len = count};
	ssize_t n;
	int err;
	for (;;) {
		Py_BEGIN_ALLOW_THREADS
		switch (op) {
		case OP_READ:
			n = readv(fd, &iov, 1);
			break;
		case OP_WRITE:
			n = writev(fd, &iov, 1);
			break;
		case OP_PREAD:
			n = preadv(fd, &iov, 1, (off_t)offset);
			break;
		default:
			n = pwritev(fd, &iov, 1, (off_t)offset);
			break;
		}
		err = errno;
		Py_END_ALLOW_THREADS
		/* as Python's os calls do (PEP 475): retry, unless a signal handler raised
		 * (the timeout, Ctrl-C), which then ends the call as it would end os.readv */
		if (n >= 0 || err != EINTR)
			break;
		if (PyErr_CheckSignals() < 0) {
			PyBuffer_Release(&view);
			return NULL;
		}
	}
	PyBuffer_Release(&view);
	return PyLong_FromSsize_t(n < 0 ? -(Py_ssize_t)err : n);
}

enum { SLOT_NR = 1, SLOT_SEQ = 2, SLOT_DONE = 3, SLOT_WORDS = 4 }; /* struct hc_slot */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int scan(const volatile uint64_t *mb, int slots, uint64_t nr, uint64_t skip)
{
	for (int i = 0; i < slots; i++) {
		const volatile uint64_t *s = mb + (size_t)i * SLOT_WORDS;

		if (skip >> i & 1)
			continue;
		/* seq first: the kernel writes it last, so what we read next is its call's */
		uint64_t seq = __atomic_load_n(&s[SLOT_SEQ], __ATOMIC_ACQUIRE);
		if (seq != s[SLOT_DONE] && s[SLOT_NR] == nr)
			return i;
	}
	return -1;
}

static PyObject *fastio_wait_slot(PyObject *self, PyObject *args)
{
	PyObject *regions;
	unsigned long long mailbox, nr, skip, flag;
	int slots;
	long long spin_ns;
	(void)self;

	if (!PyArg_ParseTuple(args, "OKiKKKL", &regions, &mailbox, &slots, &nr, &skip, &flag,
			      &spin_ns))
		return NULL;
	if (slots < 0 || slots > 64) {
		PyErr_SetString(PyExc_ValueError, "at most 64 slots");
		return NULL;
	}
	Py_buffer mview, fview;
	char *mat, *fat;
	int r = find_region(regions, mailbox, (uint64_t)slots * SLOT_WORDS * 8, &mview, &mat);
	if (r <= 0)
		return r < 0 ? NULL : PyLong_FromLong(-2);
	r = find_region(regions, flag, 8, &fview, &fat);
	if (r <= 0) {
		PyBuffer_Release(&mview);
		return r < 0 ? NULL : PyLong_FromLong(-2);
	}
	/* guest memory is only ever mapped page-aligned: these are aligned if the
	 * guest's addresses are, and a misaligned one is refused */
	if (((uintptr_t)mat | (uintptr_t)fat) & 7) {
		PyBuffer_Release(&mview);
		PyBuffer_Release(&fview);
		return PyLong_FromLong(-2);
	}
	const volatile uint64_t *mb = (const volatile uint64_t *)mat;
	volatile uint64_t *fl = (volatile uint64_t *)fat;
	int found;
	Py_BEGIN_ALLOW_THREADS
	const int64_t end = now_ns() + spin_ns;
	for (unsigned n = 0;; n++) {
		found = scan(mb, slots, nr, skip);
		if (found >= 0 || ((n & 63) == 0 && now_ns() >= end))
			break;
		__asm__ volatile("pause" ::: "memory");
	}
	if (found < 0) {
		__atomic_store_n(fl, 0, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST); /* the store before the loads */
		found = scan(mb, slots, nr, skip);
	}
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&mview);
	PyBuffer_Release(&fview);
	return PyLong_FromLong(found);
}

static PyMethodDef methods[] = {
	{"wait_slot", fastio_wait_slot, METH_VARARGS,
	 "wait_slot(regions, mailbox, slots, nr, skip, flag, spin_ns): a waiting slot's "
	 "index, -1 (none; flag cleared) or -2 (outside guest memory)"},
	{"rw", fastio_rw, METH_VARARGS,
	 "rw(regions, op, fd, addr, count, offset): read/write/pread/pwrite (op 0-3) "
	 "between host fd and guest memory; bytes or -errno"},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "_hermit_fastio",
	"The file service's hot transfers in compiled code (hermit_build/hostfs/fastio.py).",
	-1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hermit_fastio(void)
{
	PyObject *m = PyModule_Create(&module);
	if (m && (PyModule_AddIntConstant(m, "READ", OP_READ) < 0 ||
		  PyModule_AddIntConstant(m, "WRITE", OP_WRITE) < 0 ||
		  PyModule_AddIntConstant(m, "PREAD", OP_PREAD) < 0 ||
		  PyModule_AddIntConstant(m, "PWRITE", OP_PWRITE) < 0)) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
