/*
 * _hermit_fastio.Sampler: the profiler's sampling thread and its vCPUs' KVM_RUN
 * loop in compiled code.  uhyve/sampler.py is the reference and the fallback.
 *
 * In Python a sample stopped its vCPU for ~50 us on kvm_pvm beyond the exit: the
 * EINTR brought its thread back into the interpreter, which waited for the GIL the
 * sampling thread had just held, took the sample through ioctl and struct, and came
 * back.  Here neither thread needs the GIL.  The sampling thread sleeps to each
 * tick (clock_nanosleep), asks a sample of every vCPU inside KVM_RUN (`wanted`)
 * and kicks it with the one kick (the signal uhyve's kickers send, smp.KICK); a
 * vCPU in a host call or idle is counted by its label, without a kick.  The vCPU's
 * thread runs KVM_RUN in run(): out of it with EINTR and a sample wanted, it takes
 * the sample (KVM_GET_REGS, the mode, a copy of the top of its stack) and goes back
 * in.  Every other kicker sets the vCPU's `attention` before its kick (Vcpu.kick);
 * run() then returns to Python as the ioctl would, with InterruptedError.  An EINTR
 * that neither explains (SIGALRM, SIGINT: Python's own handlers) returns too; one
 * that came together with a sample kick is seen at most BOUND_NS later, when run()
 * returns to Python anyway.
 *
 * Samples go into blocks of memory the sampling thread maps (and faults in) ahead,
 * so a vCPU's copy never waits for the host's page faults.  The guest is hostile:
 * its stack pointer and the kernel's words are looked up in guest RAM (one region),
 * and a sample whose stack lies outside has no stack copy.
 */
#include "fastio.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_VCPUS 64
#define BLOCK_BYTES ((size_t)8 << 20) /* ~500 samples of 16 KiB */
#define BOUND_NS 20000000	      /* longest run() stays away from Python when kicked */
#define LABEL_IDLE 256		      /* label(): a host call's number, or this */

enum { OUTSIDE, IN_RUN };
enum { REC_STACK, REC_HOST, REC_IDLE };

struct rec {
	uint32_t kind, value; /* value: the host call's number */
	uint64_t rip, rsp, rbp;
	uint32_t kernel, len; /* len bytes of stack follow, then padding to 8 */
};

struct block {
	struct block *next;
	size_t used, size;
	uint64_t data[];
};

struct vcpu {
	int fd;
	struct kvm_run *run; /* our own mapping of its run area, when KVM syncs registers there */
	int known; /* thread is set: run() was entered (the sampling thread reads both) */
	pthread_t thread;
	int state, label, wanted, attention; /* read and written with __atomic builtins */
	int masked;			     /* KVM_RUN unblocks the kick, which run() blocks */
	uint64_t word;			     /* kvm_pvm: GPA of its in-user word, once read */
	unsigned long long in_c;	     /* kicks served here, without Python */
};

/* boot_info's fields the mode needs (kvm_pvm), as sampler.py passes them */
struct layout {
	uint64_t info, magic_at, magic, events_at, start_at, end_at, event_size, in_user_at;
};

typedef struct {
	PyObject_HEAD
	pthread_mutex_t lock; /* the blocks, `over`, and kicks against stop() */
	struct guest ram;
	struct vcpu *cpus;
	int ncpus, signum, pvm, started, over, joined, writers;
	long long period_ns;
	size_t window, run_size;
	struct layout lay;
	uint64_t events, entry_start, entry_end; /* learned from boot_info (kvm_pvm) */
	pthread_t thread;
	struct block *head, *tail, *spare;
	unsigned long long ticks, dropped;
} Sampler;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct block *new_block(size_t size)
{
	size = (size + sizeof(struct block) + 4095) & ~(size_t)4095;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		       -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	struct block *b = p;
	b->next = NULL;
	b->used = 0;
	b->size = size - sizeof(struct block);
	return b;
}

static void free_blocks(struct block *b)
{
	while (b) {
		struct block *next = b->next;
		munmap(b, b->size + sizeof(struct block));
		b = next;
	}
}

/* Under the lock: room for a record of `size` bytes (a multiple of 8), or NULL */
static struct rec *reserve_locked(Sampler *s, size_t size)
{
	struct block *b = s->tail;

	if (s->over)
		return NULL;
	if (!b || b->size - b->used < size) {
		b = s->spare && s->spare->size >= size ? s->spare : new_block(size > BLOCK_BYTES ? size : BLOCK_BYTES);
		if (!b) {
			s->dropped++;
			return NULL;
		}
		if (b == s->spare)
			s->spare = NULL;
		if (s->tail)
			s->tail->next = b;
		else
			s->head = b;
		s->tail = b;
	}
	struct rec *r = (struct rec *)((char *)b->data + b->used);
	b->used += size;
	return r;
}

static uint64_t load64(const Sampler *s, uint64_t gpa, int *ok)
{
	const char *p = fastio_at(&s->ram, gpa, 8);
	uint64_t v = 0;

	*ok = p != NULL;
	if (p)
		memcpy(&v, p, 8);
	return v;
}

/* Did the vCPU run the kernel (1) or the application (0)?  As sampler.py decides. */
static int in_kernel(Sampler *s, struct vcpu *c, int index, uint64_t rip)
{
	int ok;

	if (s->pvm && !s->events && load64(s, s->lay.info + s->lay.magic_at, &ok) == s->lay.magic) {
		uint64_t events = load64(s, s->lay.info + s->lay.events_at, &ok);
		s->entry_start = load64(s, s->lay.info + s->lay.start_at, &ok);
		s->entry_end = load64(s, s->lay.info + s->lay.end_at, &ok);
		s->events = events;
	}
	if (s->entry_start <= rip && rip < s->entry_end)
		return 1;
	if (s->events) { /* kvm_pvm: the registers cannot say; the kernel's word does */
		if (!c->word)
			c->word = load64(s, s->events + s->lay.event_size * (uint64_t)index + s->lay.in_user_at, &ok);
		uint64_t word = load64(s, c->word, &ok);
		return !ok || word != 1;
	}
	if (s->pvm)
		return 1; /* before the kernel said where its word is: it boots */
	struct kvm_sregs sregs;
	if (ioctl(c->fd, KVM_GET_SREGS, &sregs) < 0)
		return 1;
	return (sregs.cs.selector & 3) == 0;
}

/* On the vCPU's thread, out of KVM_RUN: the sample asked for; `synced` when KVM_RUN has
 * just stored the registers in the run area.  A writer from before `over` to its end,
 * so that close() never lets go of guest memory under it. */
static void take(Sampler *s, int index, int synced)
{
	struct vcpu *c = &s->cpus[index];
	struct kvm_regs regs;

	__atomic_store_n(&c->wanted, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&s->lock);
	int go = !s->over;
	s->writers += go;
	pthread_mutex_unlock(&s->lock);
	if (!go)
		return;
	struct rec *r = NULL;
	int got = 0;
	if (c->run && synced) { /* stored on the way out: no ioctl (~10-30 us on kvm_pvm) */
		regs = c->run->s.regs.regs;
		got = 1;
	} else
		got = ioctl(c->fd, KVM_GET_REGS, &regs) == 0;
	if (got) {
		int kernel = in_kernel(s, c, index, regs.rip);
		uint64_t len = 0;
		const char *stack = NULL;
		for (int i = 0; i < s->ram.n; i++) {
			const struct region *g = &s->ram.regions[i];
			if (regs.rsp >= g->gpa && regs.rsp - g->gpa < g->size) {
				len = g->size - (regs.rsp - g->gpa);
				len = len < s->window ? len : s->window;
				stack = g->host + (regs.rsp - g->gpa);
				break;
			}
		}
		pthread_mutex_lock(&s->lock);
		r = reserve_locked(s, sizeof(*r) + ((len + 7) & ~(uint64_t)7));
		pthread_mutex_unlock(&s->lock);
		if (r) {
			*r = (struct rec){REC_STACK, 0, regs.rip, regs.rsp, regs.rbp, (uint32_t)kernel,
					  (uint32_t)len};
			if (len) /* the guest may write meanwhile: that sample's loss */
				memcpy(r + 1, stack, len);
		}
	}
	pthread_mutex_lock(&s->lock);
	s->writers--;
	pthread_mutex_unlock(&s->lock);
}

/* The sampling thread: wake each period, kick or label every vCPU, map memory ahead. */
static void *sampling(void *arg)
{
	Sampler *s = arg;
	int64_t due = now_ns();

	for (;;) {
		due += s->period_ns;
		int64_t now = now_ns();
		if (due < now)
			due = now; /* fell behind (a busy host): skip, never burst */
		struct timespec ts = {.tv_sec = due / 1000000000, .tv_nsec = due % 1000000000};
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		pthread_mutex_lock(&s->lock);
		if (s->over) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		s->ticks++;
		for (int i = 0; i < s->ncpus; i++) {
			struct vcpu *c = &s->cpus[i];

			if (!__atomic_load_n(&c->known, __ATOMIC_ACQUIRE))
				continue;
			if (__atomic_load_n(&c->state, __ATOMIC_SEQ_CST) == IN_RUN) {
				/* a kick lost outside KVM_RUN is sent again: never stop sampling */
				__atomic_store_n(&c->wanted, 1, __ATOMIC_SEQ_CST);
				pthread_kill(c->thread, s->signum);
				continue;
			}
			int label = __atomic_load_n(&c->label, __ATOMIC_RELAXED);
			if (!label)
				continue; /* between two exits, in Python */
			struct rec *r = reserve_locked(s, sizeof(*r));
			if (r)
				*r = (struct rec){.kind = label == LABEL_IDLE ? REC_IDLE : REC_HOST, .value = (uint32_t)label};
		}
		int need = !s->spare;
		pthread_mutex_unlock(&s->lock);
		if (need) { /* outside the lock: faulting 8 MiB in takes a while */
			struct block *b = new_block(BLOCK_BYTES);
			pthread_mutex_lock(&s->lock);
			if (!s->spare) {
				s->spare = b;
				b = NULL;
			}
			pthread_mutex_unlock(&s->lock);
			free_blocks(b);
		}
	}
}

static int sampler_init(Sampler *s, PyObject *args, PyObject *kw)
{
	PyObject *regions, *fds;
	int hz, signum, pvm;
	unsigned long long window, run_size, sync;
	struct layout *l = &s->lay;
	(void)kw;

	if (!PyArg_ParseTuple(args, "OO!iipKKK(KKKKKKKK)", &regions, &PyList_Type, &fds, &hz, &signum,
			      &pvm, &window, &run_size, &sync, &l->info, &l->magic_at, &l->magic, &l->events_at,
			      &l->start_at, &l->end_at, &l->event_size, &l->in_user_at))
		return -1;
	if (s->cpus) {
		PyErr_SetString(PyExc_RuntimeError, "a Sampler is set up once");
		return -1;
	}
	Py_ssize_t n = PyList_GET_SIZE(fds);
	if (n < 1 || n > MAX_VCPUS || hz < 1 || hz > 100000 || signum < 1 || signum >= NSIG ||
	    window > (1u << 24)) {
		PyErr_SetString(PyExc_ValueError, "1-64 vCPUs, a rate, a signal, a window");
		return -1;
	}
	s->cpus = calloc((size_t)n, sizeof(*s->cpus));
	if (!s->cpus) {
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		s->cpus[i].fd = (int)PyLong_AsLong(PyList_GET_ITEM(fds, i));
		if (s->cpus[i].fd < 0 && !PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError, "a vCPU fd");
		if (PyErr_Occurred())
			goto fail;
	}
	if (fastio_guest_open(&s->ram, regions) < 0)
		goto fail;
	for (Py_ssize_t i = 0; i < n && sync & KVM_SYNC_X86_REGS && run_size >= sizeof(struct kvm_run); i++) {
		void *p = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, s->cpus[i].fd, 0);
		s->cpus[i].run = p == MAP_FAILED ? NULL : p; /* else KVM_GET_REGS */
	}
	s->run_size = run_size;
	pthread_mutex_init(&s->lock, NULL);
	s->ncpus = (int)n;
	s->signum = signum;
	s->pvm = pvm;
	s->window = window;
	s->period_ns = 1000000000LL / hz;
	return 0;
fail:
	free(s->cpus);
	s->cpus = NULL;
	return -1;
}

static PyObject *sampler_start(Sampler *s, PyObject *unused)
{
	sigset_t all, old;
	(void)unused;

	if (!s->cpus || s->started || s->over) {
		PyErr_SetString(PyExc_RuntimeError, "a Sampler starts once");
		return NULL;
	}
	s->spare = new_block(BLOCK_BYTES);
	sigfillset(&all); /* no signal for this thread: Python's are the main thread's */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&s->thread, NULL, sampling, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		errno = err;
		return PyErr_SetFromErrno(PyExc_OSError);
	}
	s->started = 1;
	Py_RETURN_NONE;
}

/* No kick after this returns, and no sample is added (the thread is joined once). */
static PyObject *sampler_stop(Sampler *s, PyObject *unused)
{
	(void)unused;
	if (!s->cpus)
		Py_RETURN_NONE;
	pthread_mutex_lock(&s->lock);
	s->over = 1;
	int join = s->started && !s->joined;
	s->joined |= join;
	pthread_mutex_unlock(&s->lock);
	if (join) {
		Py_BEGIN_ALLOW_THREADS
		pthread_join(s->thread, NULL);
		Py_END_ALLOW_THREADS
	}
	Py_RETURN_NONE;
}

static int vcpu_arg(Sampler *s, PyObject *args, int *index)
{
	if (!PyArg_ParseTuple(args, "i", index))
		return -1;
	if (!s->cpus || *index < 0 || *index >= s->ncpus) {
		PyErr_Format(PyExc_ValueError, "no vCPU %d", *index);
		return -1;
	}
	return 0;
}

/* Once per vCPU, on its thread: KVM_RUN takes the thread's own signal mask, so that
 * run() can block the kick outside KVM_RUN.  A kick then ends KVM_RUN as before but is
 * never delivered: run() takes it off the pending set (no signal frame, no handler,
 * no sigreturn), and one sent while the thread is outside KVM_RUN ends the next one. */
static void mask_kick(Sampler *s, struct vcpu *c)
{
	struct {
		uint32_t len;
		uint8_t set[8];
	} m = {.len = 8};
	sigset_t now;

	c->masked = -1;
	if (pthread_sigmask(SIG_BLOCK, NULL, &now) || sigismember(&now, s->signum))
		return;
	memcpy(m.set, &now, 8); /* the kernel's sigset: the first 64 signals */
	if (ioctl(c->fd, KVM_SET_SIGNAL_MASK, &m) == 0)
		c->masked = 1;
}

/* The kick off the pending set, if it is there: whether it was. */
static int took_kick(const Sampler *s)
{
	sigset_t kick;
	struct timespec zero = {0, 0};

	sigemptyset(&kick);
	sigaddset(&kick, s->signum);
	return sigtimedwait(&kick, NULL, &zero) == s->signum;
}

static PyObject *sampler_run(Sampler *s, PyObject *args)
{
	int index, r, err = 0;
	sigset_t kick, old;

	if (vcpu_arg(s, args, &index) < 0)
		return NULL;
	struct vcpu *c = &s->cpus[index];
	sigemptyset(&kick);
	sigaddset(&kick, s->signum);
	Py_BEGIN_ALLOW_THREADS
	if (!c->known) {
		c->thread = pthread_self();
		__atomic_store_n(&c->known, 1, __ATOMIC_RELEASE);
	}
	if (!c->masked)
		mask_kick(s, c);
	if (c->masked > 0)
		pthread_sigmask(SIG_BLOCK, &kick, &old);
	if (c->run)
		c->run->kvm_valid_regs = KVM_SYNC_X86_REGS; /* only while this loop runs */
	const int64_t start = now_ns();
	for (;;) {
		if (__atomic_load_n(&c->wanted, __ATOMIC_SEQ_CST))
			take(s, index, 0); /* its kick came outside KVM_RUN: where the vCPU is now */
		__atomic_store_n(&c->state, IN_RUN, __ATOMIC_SEQ_CST);
		int ran = !__atomic_exchange_n(&c->attention, 0, __ATOMIC_SEQ_CST);
		if (!ran) {
			r = -1; /* a kick that came outside KVM_RUN: Python looks now */
			err = EINTR;
		} else {
			r = ioctl(c->fd, KVM_RUN, 0);
			err = errno;
		}
		__atomic_store_n(&c->state, OUTSIDE, __ATOMIC_SEQ_CST);
		if (r >= 0 || err != EINTR)
			break;
		if (c->masked > 0 && ran && !took_kick(s))
			break; /* another signal: Python's handler ran, Python looks */
		int sampled = __atomic_load_n(&c->wanted, __ATOMIC_SEQ_CST);
		if (sampled)
			take(s, index, ran); /* before Python's look (an event) moves rip */
		if (__atomic_exchange_n(&c->attention, 0, __ATOMIC_SEQ_CST) || !sampled)
			break; /* another kicker's, or a signal of Python's own */
		c->in_c++;
		if (now_ns() - start >= BOUND_NS)
			break;
	}
	if (c->run)
		c->run->kvm_valid_regs = 0;
	if (c->masked > 0)
		pthread_sigmask(SIG_SETMASK, &old, NULL); /* a kick still pending: its handler runs */
	Py_END_ALLOW_THREADS
	if (r < 0) {
		errno = err;
		return PyErr_SetFromErrno(PyExc_OSError); /* runs Python's handlers on EINTR */
	}
	Py_RETURN_NONE;
}

static PyObject *sampler_attention(Sampler *s, PyObject *args)
{
	int index;

	if (vcpu_arg(s, args, &index) < 0)
		return NULL;
	__atomic_store_n(&s->cpus[index].attention, 1, __ATOMIC_SEQ_CST);
	Py_RETURN_NONE;
}

static PyObject *sampler_label(Sampler *s, PyObject *args)
{
	int index, label;

	if (!PyArg_ParseTuple(args, "ii", &index, &label))
		return NULL;
	if (!s->cpus || index < 0 || index >= s->ncpus || label < 0 || label > LABEL_IDLE) {
		PyErr_Format(PyExc_ValueError, "no vCPU %d or label %d", index, label);
		return NULL;
	}
	__atomic_store_n(&s->cpus[index].label, label, __ATOMIC_RELAXED);
	Py_RETURN_NONE;
}

static PyObject *sampler_served(Sampler *s, PyObject *args)
{
	int index;

	if (vcpu_arg(s, args, &index) < 0)
		return NULL;
	return PyLong_FromUnsignedLongLong(s->cpus[index].in_c);
}

/* After stop(): every sample, (rip, rsp, rbp, kernel, stack) or (kind, number) for a
 * label, in the order taken; the memory is let go. */
static PyObject *sampler_collect(Sampler *s, PyObject *unused)
{
	(void)unused;
	if (!s->cpus || !s->over) {
		PyErr_SetString(PyExc_RuntimeError, "collect() after stop()");
		return NULL;
	}
	for (int i = 0; i < 1000; i++) { /* a vCPU still copying its last sample */
		pthread_mutex_lock(&s->lock);
		int busy = s->writers;
		pthread_mutex_unlock(&s->lock);
		if (!busy)
			break;
		Py_BEGIN_ALLOW_THREADS
		usleep(1000);
		Py_END_ALLOW_THREADS
	}
	PyObject *out = PyList_New(0);
	if (!out)
		return NULL;
	pthread_mutex_lock(&s->lock);
	int busy = s->writers;
	struct block *head = busy ? NULL : s->head;
	if (!busy)
		s->head = s->tail = NULL;
	pthread_mutex_unlock(&s->lock);
	for (struct block *b = head; b; b = b->next) {
		for (size_t off = 0; off < b->used;) {
			const struct rec *r = (const struct rec *)((const char *)b->data + off);
			PyObject *item;

			off += sizeof(*r) + ((r->len + 7) & ~(size_t)7);
			if (r->kind == REC_STACK)
				item = Py_BuildValue("(KKKNy#)", (unsigned long long)r->rip,
						     (unsigned long long)r->rsp, (unsigned long long)r->rbp,
						     PyBool_FromLong(r->kernel), (const char *)(r + 1),
						     (Py_ssize_t)r->len);
			else
				item = Py_BuildValue("(iI)", r->kind, r->value);
			if (!item || PyList_Append(out, item) < 0) {
				Py_XDECREF(item);
				Py_DECREF(out);
				free_blocks(head);
				return NULL;
			}
			Py_DECREF(item);
		}
	}
	free_blocks(head);
	return out;
}

/* Let go of guest memory (before the VM unmaps it): stop() first. */
static PyObject *sampler_close(Sampler *s, PyObject *unused)
{
	PyObject *r = sampler_stop(s, unused);
	if (!r)
		return NULL;
	Py_DECREF(r);
	if (s->cpus) {
		pthread_mutex_lock(&s->lock);
		int busy = s->writers;
		pthread_mutex_unlock(&s->lock);
		if (!busy) /* else a vCPU thread never came back: keep its memory mapped */
			fastio_guest_close(&s->ram);
	}
	Py_RETURN_NONE;
}

static PyObject *sampler_get_ticks(Sampler *s, void *unused)
{
	(void)unused;
	return PyLong_FromUnsignedLongLong(s->ticks);
}

static void sampler_dealloc(Sampler *s)
{
	if (s->cpus) {
		PyObject *r = sampler_close(s, NULL);
		Py_XDECREF(r);
		if (!s->writers) {
			for (int i = 0; i < s->ncpus; i++)
				if (s->cpus[i].run)
					munmap(s->cpus[i].run, s->run_size);
			free_blocks(s->head);
			free_blocks(s->spare);
			pthread_mutex_destroy(&s->lock);
			free(s->cpus);
		}
	}
	Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyMethodDef sampler_methods[] = {
	{"start", (PyCFunction)sampler_start, METH_NOARGS, "start(): the sampling thread runs"},
	{"stop", (PyCFunction)sampler_stop, METH_NOARGS,
	 "stop(): no kick and no sample after this returns"},
	{"run", (PyCFunction)sampler_run, METH_VARARGS,
	 "run(index): KVM_RUN on vCPU index until an exit (None) or a kick that is not only "
	 "a sample's (InterruptedError), taking the samples asked for meanwhile"},
	{"attention", (PyCFunction)sampler_attention, METH_VARARGS,
	 "attention(index): the next kick of vCPU index returns run() to Python"},
	{"label", (PyCFunction)sampler_label, METH_VARARGS,
	 "label(index, what): vCPU index is outside KVM_RUN in host call `what` (1-255), "
	 "idle (256), or neither (0)"},
	{"served", (PyCFunction)sampler_served, METH_VARARGS,
	 "served(index): the kicks run() served without returning to Python"},
	{"collect", (PyCFunction)sampler_collect, METH_NOARGS,
	 "collect() -> list: the samples, (rip, rsp, rbp, kernel, stack) or (kind, nr)"},
	{"close", (PyCFunction)sampler_close, METH_NOARGS, "close(): stop, let go of guest memory"},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef sampler_getset[] = {
	{"ticks", (getter)sampler_get_ticks, NULL, "the sampling thread's wake-ups", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject fastio_sampler_type = {
	PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_hermit_fastio.Sampler",
	.tp_basicsize = sizeof(Sampler),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "The profiler's sampling thread and KVM_RUN loop (pyext/sample.c).",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)sampler_init,
	.tp_dealloc = (destructor)sampler_dealloc,
	.tp_methods = sampler_methods,
	.tp_getset = sampler_getset,
};
