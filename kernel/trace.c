/* The system-call trace (HERMIT_STRACE): each system call of the application with
 * its arguments, result and the host calls it made, in a ring in guest memory that
 * the loader reads and prints (hermit_build/strace.py).  Strings (paths, the data
 * written) are copied at entry and the data read at return, while the calling
 * thread still owns them.  Every record is written under the kernel lock, so one
 * ring holds them in the order the calls returned. */
#include <sys/syscall.h>

#include <hermit/arch.h>
#include <hermit/fd.h>
#include <hermit/task.h>
#include <hermit/trace.h>

#define RING_PAGES ((HERMIT_TRACE_RECS + 1) * HERMIT_TRACE_REC_BYTES / PAGE_SIZE)

static struct trace_ring *ring; /* then TRACE_RECS records */
static int ring_failed;

static int ring_ready(void)
{
	if (ring || ring_failed)
		return ring != 0;
	uint64_t addr = page_alloc(RING_PAGES, 1);
	if (!addr) {
		ring_failed = 1;
		kprintf("hermit: no memory for the system-call trace\n");
		return 0;
	}
	ring = (struct trace_ring *)addr;
	boot_info->trace_addr = addr;
	return 1;
}

/* A NUL-terminated string of the application; its length (the NUL excluded).
 * *trunc: 1 when it goes on, 4 when not even its first byte could be read. */
static uint64_t copy_string(char *dst, uint64_t src, int *trunc)
{
	uint64_t n = 0;

	for (; n < HERMIT_TRACE_STR; n++) {
		if ((n == 0 || (src + n) % PAGE_SIZE == 0) && !user_ok(src + n, 1)) {
			if (!n)
				*trunc = 4; /* the loader prints the pointer */
			return n;
		}
		dst[n] = *(const char *)(src + n);
		if (!dst[n])
			return n;
	}
	*trunc = 1;
	return n;
}

static uint64_t copy_buffer(char *dst, uint64_t src, uint64_t len, int *trunc)
{
	uint64_t n = len < HERMIT_TRACE_STR ? len : HERMIT_TRACE_STR;

	if (!user_ok(src, n)) {
		*trunc = 4;
		return 0;
	}
	memcpy(dst, (const void *)src, n);
	*trunc = len > n;
	return n;
}

static void take_string(struct trace_call *tc, int i, uint64_t src)
{
	int trunc = 0;
	uint64_t n = copy_string(tc->str[i], src, &trunc);
	if (i)
		tc->rec.len1 = n;
	else
		tc->rec.len0 = n;
	tc->rec.trunc |= (uint64_t)trunc << i;
}

static void take_buffer(struct trace_call *tc, uint64_t src, uint64_t len)
{
	int trunc = 0;
	tc->rec.len0 = copy_buffer(tc->str[0], src, len, &trunc);
	tc->rec.trunc |= (uint64_t)trunc;
}

/* writev: the first two iovecs, their lengths and the start of their data. */
static void take_iovecs(struct trace_call *tc, uint64_t iov, uint64_t n)
{
	for (uint64_t i = 0; i < n && i < 2; i++) {
		if (!user_ok(iov + 16 * i, 16)) {
			tc->rec.trunc |= 4ULL << i;
			return;
		}
		const uint64_t *v = (const uint64_t *)(iov + 16 * i);
		int trunc = 0;
		uint64_t got = copy_buffer(tc->str[i], v[0], v[1], &trunc);
		*(i ? &tc->rec.len1 : &tc->rec.len0) = got;
		*(i ? &tc->rec.iov1_len : &tc->rec.iov0_len) = v[1];
		tc->rec.trunc |= (uint64_t)(trunc & 1) << i | (uint64_t)(trunc & 4) << i;
	}
}

/* The strings a call is given (the loader's strace.py decodes the same calls). */
static void take_inputs(struct trace_call *tc, uint64_t nr, const long a[6])
{
	switch (nr) {
	case SYS_open: case SYS_stat: case SYS_lstat: case SYS_access: case SYS_truncate:
	case SYS_chdir: case SYS_mkdir: case SYS_rmdir: case SYS_unlink: case SYS_chmod:
	case SYS_chown: case SYS_lchown: case SYS_readlink: case SYS_statfs: case SYS_execve:
	case SYS_creat:
		take_string(tc, 0, (uint64_t)a[0]);
		break;
	case SYS_rename: case SYS_link: case SYS_symlink:
		take_string(tc, 0, (uint64_t)a[0]);
		take_string(tc, 1, (uint64_t)a[1]);
		break;
	case SYS_openat: case SYS_mkdirat: case SYS_newfstatat: case SYS_unlinkat:
	case SYS_fchmodat: case SYS_faccessat: case SYS_faccessat2: case SYS_readlinkat:
	case SYS_utimensat: case SYS_fchownat:
		if (a[1])
			take_string(tc, 0, (uint64_t)a[1]);
		break;
	case SYS_renameat: case SYS_renameat2: case SYS_linkat:
		take_string(tc, 0, (uint64_t)a[1]);
		take_string(tc, 1, (uint64_t)a[3]);
		break;
	case SYS_symlinkat:
		take_string(tc, 0, (uint64_t)a[0]);
		take_string(tc, 1, (uint64_t)a[2]);
		break;
	case SYS_write: case SYS_pwrite64:
		take_buffer(tc, (uint64_t)a[1], (uint64_t)a[2]);
		break;
	case SYS_writev: case SYS_pwritev:
		take_iovecs(tc, (uint64_t)a[1], (uint64_t)a[2]);
		break;
	}
}

/* What a call returned in the application's memory. */
static void take_outputs(struct trace_call *tc, long ret)
{
	const struct trace_rec *r = &tc->rec;

	if (ret <= 0)
		return;
	switch (r->nr) {
	case SYS_read: case SYS_pread64: case SYS_readlink:
		take_buffer(tc, r->a1, (uint64_t)ret);
		break;
	case SYS_readlinkat:
		take_buffer(tc, r->a2, (uint64_t)ret);
		break;
	case SYS_getcwd:
		take_string(tc, 0, r->a0);
		break;
	}
}

static void ring_put(const struct trace_call *tc)
{
	if (!ring_ready())
		return;
	while (ring->head - __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE) >= HERMIT_TRACE_RECS) {
		struct hc_trace t = { 0 };
		arch_hypercall(HC_TRACE, &t); /* the loader reads every record */
	}
	char *slot = (char *)ring + HERMIT_TRACE_REC_BYTES * (1 + ring->head % HERMIT_TRACE_RECS);
	memcpy(slot, tc, sizeof(*tc));
	__atomic_store_n(&ring->head, ring->head + 1, __ATOMIC_RELEASE);
}

void trace_begin(struct trace_call *tc, uint64_t nr, const long a[6])
{
	memset(&tc->rec, 0, sizeof(tc->rec));
	tc->rec.tsc = arch_cycles();
	tc->rec.tid = current->tid;
	tc->rec.nr = nr;
	tc->rec.a0 = (uint64_t)a[0];
	tc->rec.a1 = (uint64_t)a[1];
	tc->rec.a2 = (uint64_t)a[2];
	tc->rec.a3 = (uint64_t)a[3];
	tc->rec.a4 = (uint64_t)a[4];
	tc->rec.a5 = (uint64_t)a[5];
	take_inputs(tc, nr, a);
	if (nr == SYS_exit || nr == SYS_exit_group) {
		tc->rec.tsc_done = tc->rec.tsc; /* done 0: it does not return */
		ring_put(tc);
		return;
	}
	current->trace = tc;
}

void trace_end(struct trace_call *tc, long ret)
{
	current->trace = 0;
	tc->rec.tsc_done = arch_cycles();
	tc->rec.ret = (uint64_t)ret;
	tc->rec.done = 1;
	take_outputs(tc, ret);
	ring_put(tc);
}

void trace_host(struct trace_call *tc, uint64_t nr, long ret, uint64_t ticks, int rang)
{
	uint64_t i = tc->rec.nhost++;
	if (i >= HERMIT_TRACE_HOSTS)
		return;
	uint64_t *h = (uint64_t *)&tc->rec + TRACE_REC_OFF_H0_NR / 8 + 4 * i;
	h[0] = nr;
	h[1] = (uint64_t)ret;
	h[2] = ticks;
	h[3] = (uint64_t)rang;
}
