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
 *     Server(...)
 *
 * The poller's mailbox served in compiled code (serve.c).
 *
 *     Sampler(...)
 *
 * The profiler's sampling thread and its vCPUs' KVM_RUN loop (sample.c).
 *
 *     NicPump(...)
 *
 * uhyve's NIC between its rings and libslirp (netpump.c).
 */
#include "fastio.h"

#include <errno.h>

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

int fastio_guest_open(struct guest *g, PyObject *regions)
{
	PyObject *seq = PySequence_Fast(regions, "regions must be a sequence");
	if (!seq)
		return -1;
	Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
	g->n = 0;
	if (n > FASTIO_MAX_REGIONS) {
		Py_DECREF(seq);
		PyErr_SetString(PyExc_ValueError, "too many guest RAM regions");
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		unsigned long long start, size;
		Py_ssize_t off;
		PyObject *buf;
		Py_buffer *v = &g->views[g->n];

		if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "KKOn", &start, &size, &buf,
				      &off) ||
		    PyObject_GetBuffer(buf, v, PyBUF_WRITABLE) < 0)
			goto fail;
		g->n++;
		if (off < 0 || (uint64_t)off > (uint64_t)v->len || size > (uint64_t)v->len - off ||
		    start + size < start) {
			PyErr_SetString(PyExc_ValueError, "guest memory region larger than its buffer");
			goto fail;
		}
		g->regions[i] = (struct region){start, size, (char *)v->buf + off};
	}
	Py_DECREF(seq);
	return 0;
fail:
	Py_DECREF(seq);
	fastio_guest_close(g);
	return -1;
}

void fastio_guest_close(struct guest *g)
{
	for (int i = 0; i < g->n; i++)
		PyBuffer_Release(&g->views[i]);
	g->n = 0;
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
	ssize_t n;
	int err;
	for (;;) {
		Py_BEGIN_ALLOW_THREADS
		n = fastio_xfer(op, fd, at, count, offset);
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

static PyMethodDef methods[] = {
	{"rw", fastio_rw, METH_VARARGS,
	 "rw(regions, op, fd, addr, count, offset): read/write/pread/pwrite (op 0-3) "
	 "between host fd and guest memory; bytes or -errno"},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "_hermit_fastio",
	"The file service's hot transfers in compiled code (hermit_build/hostfs/service.py).",
	-1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hermit_fastio(void)
{
	PyObject *m = PyModule_Create(&module);
	if (m && (PyModule_AddIntConstant(m, "READ", OP_READ) < 0 ||
		  PyModule_AddIntConstant(m, "WRITE", OP_WRITE) < 0 ||
		  PyModule_AddIntConstant(m, "PREAD", OP_PREAD) < 0 ||
		  PyModule_AddIntConstant(m, "PWRITE", OP_PWRITE) < 0 ||
		  PyType_Ready(&fastio_server_type) < 0 ||
		  PyModule_AddObjectRef(m, "Server", (PyObject *)&fastio_server_type) < 0 ||
		  PyType_Ready(&fastio_sampler_type) < 0 ||
		  PyModule_AddObjectRef(m, "Sampler", (PyObject *)&fastio_sampler_type) < 0 ||
		  PyType_Ready(&fastio_pump_type) < 0 ||
		  PyModule_AddObjectRef(m, "NicPump", (PyObject *)&fastio_pump_type) < 0)) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
