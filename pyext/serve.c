/*
 * _hermit_fastio.Server: the poller's mailbox, served in compiled code.
 *
 * A forwarded call that Python serves costs ~10 us even without a VM exit; the
 * commonest ones (read, write, pread64, pwrite64 on a regular host file) need
 * no Python at all.  A Server holds what they need without the GIL: guest RAM's
 * host addresses, the mailbox, the poll flag, the slots being served, and a
 * table of guest handles whose host file is regular (Python adds one at its
 * first transfer, with a dup of its own: a close by the guest meanwhile never
 * lets a transfer act on a host fd number reused by a later open).  Everything
 * else goes back to Python, which serves it as before.
 *
 * Claims: a slot is served once, by whichever thread takes it first (a ring is
 * a hint).  take() and answer() are the Python side's (hermit_build/mailbox.py
 * once a Server is attached), and the loop claims under the same mutex; the
 * answer stores `done` and frees the slot in one step, as mailbox.py did.
 *
 * The guest is hostile: every address is looked up in guest RAM (one region,
 * no overflow), the handle must be one Python added, and the call is read once.
 */
#include "fastio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct entry {
	int fd;	  /* our own dup */
	int pins; /* transfers using fd now */
	int dead; /* dropped: the last transfer closes fd */
};

typedef struct {
	PyObject_HEAD
	pthread_mutex_t lock;
	struct guest ram;
	int open;
	volatile uint64_t *mailbox, *flag;
	int slots, watch; /* the mailbox's size; the slots serve() looks at (the vCPUs') */
	uint64_t hc_nr, max_io, nrs[4];
	uint64_t taken; /* bit per slot: being served, here or by Python */
	struct entry **handles;
	int nhandles;
	int serving; /* a serve() runs without the GIL: close() leaves the views alone */
	unsigned long long served;
} Server;

static char *at(const Server *s, uint64_t gpa, uint64_t len)
{
	return fastio_at(&s->ram, gpa, len);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void release_views(Server *s)
{
	fastio_guest_close(&s->ram);
	s->mailbox = s->flag = NULL;
}

static int server_init(Server *s, PyObject *args, PyObject *kw)
{
	PyObject *regions;
	unsigned long long mailbox, flag, hc_nr, max_io, nrs[4];
	int slots, watch, nhandles;
	(void)kw;

	if (!PyArg_ParseTuple(args, "OKiiKK(KKKK)iK", &regions, &mailbox, &slots, &watch, &flag, &hc_nr,
			      &nrs[0], &nrs[1], &nrs[2], &nrs[3], &nhandles, &max_io))
		return -1;
	if (s->open || s->handles) {
		PyErr_SetString(PyExc_RuntimeError, "a Server is set up once");
		return -1;
	}
	if (slots < 1 || slots > 64 || watch < 1 || watch > slots || nhandles < 1 || nhandles > 1 << 20) {
		PyErr_SetString(PyExc_ValueError, "1-64 slots, a sane handle count");
		return -1;
	}
	if (fastio_guest_open(&s->ram, regions) < 0)
		return -1;
	s->mailbox = (volatile uint64_t *)at(s, mailbox, (uint64_t)slots * SLOT_WORDS * 8);
	s->flag = (volatile uint64_t *)at(s, flag, 8);
	/* guest RAM is mapped page-aligned: the guest's alignment is the host's */
	if (!s->mailbox || !s->flag || ((uintptr_t)s->mailbox | (uintptr_t)s->flag) & 7) {
		release_views(s);
		PyErr_SetString(PyExc_ValueError, "mailbox or flag outside guest memory");
		return -1;
	}
	s->handles = calloc((size_t)nhandles, sizeof(*s->handles));
	if (!s->handles) {
		release_views(s);
		PyErr_NoMemory();
		return -1;
	}
	pthread_mutex_init(&s->lock, NULL);
	s->nhandles = nhandles;
	s->slots = slots;
	s->watch = watch;
	s->hc_nr = hc_nr;
	s->max_io = max_io;
	memcpy(s->nrs, nrs, sizeof(s->nrs));
	s->open = 1;
	return 0;
}

/* Under the lock: a transfer on `e` is over (or it is dropped): the last one closes. */
static void unpin(struct entry *e)
{
	if (--e->pins == 0 && e->dead) {
		close(e->fd);
		free(e);
	}
}

static void drop_locked(Server *s, int handle)
{
	struct entry *e = s->handles[handle];

	if (!e)
		return;
	s->handles[handle] = NULL;
	e->dead = 1;
	e->pins++;
	unpin(e);
}

/* Serve the call at `gpa` if it is one of ours: 1 (answered in its struct), or 0
 * (Python's: a bad handle, a file that is not regular, an odd size...). */
static int serve_call(Server *s, uint64_t gpa)
{
	volatile uint64_t *sc = (volatile uint64_t *)at(s, gpa, SC_WORDS * 8);
	if (!sc || (uintptr_t)sc & 7)
		return 0; /* Python says what is wrong with it */
	uint64_t a[SC_WORDS];
	for (int i = 0; i < SC_RET; i++)
		a[i] = sc[i]; /* once: the guest may change it meanwhile */
	int op = -1;
	for (int i = 0; i < 4; i++)
		if (a[SC_NR] == s->nrs[i])
			op = i;
	const int64_t handle = (int32_t)a[SC_A0];
	const uint64_t addr = a[SC_A0 + 1], count = a[SC_A0 + 2], offset = a[SC_A0 + 3];
	if (op < 0 || handle < 0 || handle >= s->nhandles || count > s->max_io)
		return 0;
	pthread_mutex_lock(&s->lock);
	struct entry *e = s->handles[handle];
	if (e)
		e->pins++;
	pthread_mutex_unlock(&s->lock);
	if (!e)
		return 0;
	int64_t ret;
	char *buf = at(s, addr, count);
	if (count == 0 && (op == OP_READ || op == OP_WRITE))
		ret = 0; /* no buffer check, as the Python path */
	else if (!buf)
		ret = -EFAULT;
	else if ((op == OP_PREAD || op == OP_PWRITE) && offset > INT64_MAX)
		ret = -EINVAL; /* past off_t: Python's os.preadv says EINVAL */
	else {
		ssize_t n;
		do
			n = fastio_xfer(op, e->fd, buf, count, offset);
		while (n < 0 && errno == EINTR);
		ret = n < 0 ? -(int64_t)errno : n;
	}
	pthread_mutex_lock(&s->lock);
	unpin(e);
	pthread_mutex_unlock(&s->lock);
	sc[SC_RET] = (uint64_t)ret;
	sc[SC_NODE] = 0;
	return 1;
}

/* Under the lock: claim slot i if a call numbered hc_nr waits there; its seq. */
static int claim(Server *s, int i, uint64_t *seq)
{
	volatile uint64_t *slot = s->mailbox + (size_t)i * SLOT_WORDS;

	if (s->taken >> i & 1)
		return 0;
	*seq = __atomic_load_n(&slot[SLOT_SEQ], __ATOMIC_ACQUIRE);
	if (*seq == slot[SLOT_DONE] || slot[SLOT_NR] != s->hc_nr)
		return 0;
	s->taken |= 1ull << i;
	return 1;
}

static void answer_locked(Server *s, int i, uint64_t seq)
{
	__atomic_store_n(&s->mailbox[(size_t)i * SLOT_WORDS + SLOT_DONE], seq, __ATOMIC_RELEASE);
	s->taken &= ~(1ull << i);
}

/* A waiting call nobody serves yet, or -1 (a look, no claim). */
static int waiting(Server *s)
{
	int found = -1;
	uint64_t seq;

	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->watch && found < 0; i++)
		if (claim(s, i, &seq)) {
			s->taken &= ~(1ull << i);
			found = i;
		}
	pthread_mutex_unlock(&s->lock);
	return found;
}

/* One pass over the slots: serve what is ours; the first call that is Python's in
 * *python (left unclaimed).  The number served. */
static int pass(Server *s, int *python)
{
	int n = 0;

	for (int i = 0; i < s->watch; i++) {
		volatile uint64_t *slot = s->mailbox + (size_t)i * SLOT_WORDS;
		uint64_t seq;

		if (__atomic_load_n(&slot[SLOT_SEQ], __ATOMIC_ACQUIRE) == slot[SLOT_DONE])
			continue; /* the common case, without the lock */
		pthread_mutex_lock(&s->lock);
		int mine = claim(s, i, &seq);
		pthread_mutex_unlock(&s->lock);
		if (!mine)
			continue;
		int ok = serve_call(s, slot[SLOT_GPA]);
		pthread_mutex_lock(&s->lock);
		if (ok)
			answer_locked(s, i, seq);
		else
			s->taken &= ~(1ull << i);
		pthread_mutex_unlock(&s->lock);
		if (ok)
			n++;
		else if (*python < 0)
			*python = i;
	}
	return n;
}

static PyObject *server_serve(Server *s, PyObject *args)
{
	long long spin_ns, budget_ns;

	if (!PyArg_ParseTuple(args, "LL", &spin_ns, &budget_ns))
		return NULL;
	if (!s->open)
		return Py_BuildValue("(ik)", -2, 0ul);
	int found = -1;
	unsigned long served = 0;
	s->serving++;
	Py_BEGIN_ALLOW_THREADS
	int64_t t = now_ns();
	int64_t idle_end = t + spin_ns;
	const int64_t budget_end = t + budget_ns;
	for (unsigned k = 0;; k++) {
		int n = pass(s, &found);
		if (found >= 0)
			break;
		if (n) {
			served += n;
			idle_end = now_ns() + spin_ns;
			continue;
		}
		if ((k & 63) == 0) {
			if (!__atomic_load_n(&s->open, __ATOMIC_RELAXED)) {
				found = -2; /* closed under us: the VM is ending */
				break;
			}
			t = now_ns();
			if (t >= idle_end) {
				/* nothing for spin_ns: clear the flag, then look once more (a
				 * kernel that read it set stored its seq before that read) */
				__atomic_store_n(s->flag, 0, __ATOMIC_RELAXED);
				__atomic_thread_fence(__ATOMIC_SEQ_CST);
				found = waiting(s);
				break;
			}
			if (t >= budget_end) {
				found = -3;
				break;
			}
		}
		__asm__ volatile("pause" ::: "memory");
	}
	Py_END_ALLOW_THREADS
	s->served += served;
	if (--s->serving == 0 && !s->open)
		release_views(s);
	return Py_BuildValue("(ik)", found, served);
}

static PyObject *server_take(Server *s, PyObject *args)
{
	int slot;
	long long only;
	uint64_t seq;

	if (!PyArg_ParseTuple(args, "iL", &slot, &only))
		return NULL;
	if (!s->open || slot < 0 || slot >= s->slots) {
		PyErr_Format(PyExc_ValueError, "no mailbox slot %d", slot);
		return NULL;
	}
	volatile uint64_t *sl = s->mailbox + (size_t)slot * SLOT_WORDS;
	pthread_mutex_lock(&s->lock);
	int ok = !(s->taken >> slot & 1);
	if (ok) {
		seq = __atomic_load_n(&sl[SLOT_SEQ], __ATOMIC_ACQUIRE);
		ok = seq != sl[SLOT_DONE] && (only < 0 || sl[SLOT_NR] == (uint64_t)only);
	}
	uint64_t gpa = sl[SLOT_GPA], nr = sl[SLOT_NR];
	if (ok)
		s->taken |= 1ull << slot;
	pthread_mutex_unlock(&s->lock);
	if (!ok)
		Py_RETURN_NONE;
	return Py_BuildValue("(KKK)", (unsigned long long)nr, (unsigned long long)gpa,
			     (unsigned long long)seq);
}

static PyObject *server_answer(Server *s, PyObject *args)
{
	int slot;
	unsigned long long seq;

	if (!PyArg_ParseTuple(args, "iK", &slot, &seq))
		return NULL;
	if (!s->open || slot < 0 || slot >= s->slots) {
		PyErr_Format(PyExc_ValueError, "no mailbox slot %d", slot);
		return NULL;
	}
	pthread_mutex_lock(&s->lock);
	answer_locked(s, slot, seq);
	pthread_mutex_unlock(&s->lock);
	Py_RETURN_NONE;
}

static PyObject *server_mark(Server *s, PyObject *args)
{
	int slot;

	if (!PyArg_ParseTuple(args, "i", &slot))
		return NULL;
	if (slot < 0 || slot >= 64) {
		PyErr_Format(PyExc_ValueError, "no mailbox slot %d", slot);
		return NULL;
	}
	pthread_mutex_lock(&s->lock);
	s->taken |= 1ull << slot;
	pthread_mutex_unlock(&s->lock);
	Py_RETURN_NONE;
}

static PyObject *server_add(Server *s, PyObject *args)
{
	int handle, fd;

	if (!PyArg_ParseTuple(args, "ii", &handle, &fd))
		return NULL;
	if (!s->open || handle < 0 || handle >= s->nhandles)
		Py_RETURN_FALSE;
	struct entry *e = malloc(sizeof(*e));
	int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (!e || own < 0) {
		free(e);
		if (own >= 0)
			close(own);
		Py_RETURN_FALSE; /* out of fds or memory: Python serves this file */
	}
	*e = (struct entry){.fd = own};
	pthread_mutex_lock(&s->lock);
	drop_locked(s, handle);
	s->handles[handle] = e;
	pthread_mutex_unlock(&s->lock);
	Py_RETURN_TRUE;
}

static PyObject *server_drop(Server *s, PyObject *args)
{
	int handle;

	if (!PyArg_ParseTuple(args, "i", &handle))
		return NULL;
	if (s->handles && handle >= 0 && handle < s->nhandles) {
		pthread_mutex_lock(&s->lock);
		drop_locked(s, handle);
		pthread_mutex_unlock(&s->lock);
	}
	Py_RETURN_NONE;
}

static PyObject *server_close(Server *s, PyObject *unused)
{
	(void)unused;
	if (!s->open)
		Py_RETURN_NONE;
	pthread_mutex_lock(&s->lock);
	for (int h = 0; h < s->nhandles; h++)
		drop_locked(s, h);
	s->open = 0;
	pthread_mutex_unlock(&s->lock);
	if (!s->serving)
		release_views(s); /* else the serve() that runs does, when it ends */
	Py_RETURN_NONE;
}

static PyObject *server_get_served(Server *s, void *unused)
{
	(void)unused;
	return PyLong_FromUnsignedLongLong(s->served);
}

static void server_dealloc(Server *s)
{
	if (s->open) {
		PyObject *r = server_close(s, NULL);
		Py_XDECREF(r);
	}
	if (s->handles)
		pthread_mutex_destroy(&s->lock);
	free(s->handles);
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyMethodDef server_methods[] = {
	{"serve", (PyCFunction)server_serve, METH_VARARGS,
	 "serve(spin_ns, budget_ns) -> (slot, served): serve calls until one is Python's "
	 "(its slot), none came for spin_ns (-1, the flag cleared), or budget_ns passed (-3)"},
	{"take", (PyCFunction)server_take, METH_VARARGS,
	 "take(slot, only) -> (nr, gpa, seq) or None: claim the call waiting in slot "
	 "(only: its number, or -1 for any)"},
	{"answer", (PyCFunction)server_answer, METH_VARARGS,
	 "answer(slot, seq): the call is served (done = seq) and the slot free"},
	{"mark", (PyCFunction)server_mark, METH_VARARGS,
	 "mark(slot): the slot is being served already (the switch from mailbox.py's set)"},
	{"add", (PyCFunction)server_add, METH_VARARGS,
	 "add(handle, fd) -> bool: serve transfers on handle with a dup of fd (regular)"},
	{"drop", (PyCFunction)server_drop, METH_VARARGS, "drop(handle): the handle is closed"},
	{"close", (PyCFunction)server_close, METH_NOARGS,
	 "close(): drop every handle and let go of guest memory"},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef server_getset[] = {
	{"served", (getter)server_get_served, NULL, "calls served in compiled code", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject fastio_server_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_hermit_fastio.Server",
	.tp_basicsize = sizeof(Server),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "The poller's mailbox served in compiled code (pyext/serve.c).",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)server_init,
	.tp_dealloc = (destructor)server_dealloc,
	.tp_methods = server_methods,
	.tp_getset = server_getset,
};
