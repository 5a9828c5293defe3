/* System V message queues.  Each queue holds its messages packed in one buffer
 * (taken at msgget), oldest first, each behind a 16-byte header; msgrcv by type
 * takes one from the middle and closes the gap.  As on Linux, a queue holds
 * MSGMNB bytes of text (msg_qbytes); unlike Linux (up to msg_qbytes messages),
 * at most MSGQNUM messages, so the buffer is bounded: 40 KiB, 1.25 MiB for
 * all IPC_SLOTS queues. */
#include <errno.h>
#include <sys/msg.h>

#include <hermit/fd.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

#include "futex.h"
#include "ipc.h"

struct msg_hdr {
	long type;
	uint64_t len;
};

#define MSGMAX 8192  /* the largest message (Linux's default) */
#define MSGMNB 16384 /* the most a queue holds (Linux's default) */
#define MSGQNUM 1024 /* messages per queue */
#define BUF_BYTES (MSGMNB + MSGQNUM * (sizeof(struct msg_hdr) + 8)) /* + padding */
#define MSG_COPY_ 040000

struct queue {
	struct ipc_obj obj;
	char *buf;       /* BUF_BYTES of messages, each a header and its text */
	uint64_t used;   /* bytes of buf in use */
	uint64_t bytes, count, qbytes; /* text bytes, messages, the queue's limit */
	int64_t stime, rtime;
	int lspid, lrpid;
	int readers, writers; /* wait keys: their addresses */
};

static struct queue queues[IPC_SLOTS];

#define FIND(id) ((struct queue *)ipc_find(&queues[0].obj, sizeof(struct queue), (int)(id)))

static uint64_t rec_size(uint64_t len)
{
	return ALIGN_UP(sizeof(struct msg_hdr) + len, 8);
}

long sys_msgget(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	int fresh;
	long i = ipc_get(&queues[0].obj, sizeof(struct queue), (int32_t)a0, (int)a1, &fresh);

	if (i < 0)
		return i;
	struct queue *q = &queues[i];
	if (fresh) {
		uint64_t buf = page_alloc(BUF_BYTES / PAGE_SIZE, 0);
		if (!buf)
			return -ENOMEM;
		struct ipc_obj o = q->obj;
		*q = (struct queue){ .obj = o, .buf = (char *)buf, .qbytes = MSGMNB };
		q->obj.used = 1;
	}
	return ipc_id(&queues[0].obj, sizeof(struct queue), &q->obj);
}

long sys_msgsnd(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	int id = (int)a0, flags = (int)a3;
	uint64_t msgp = (uint64_t)a1, len = (uint64_t)a2;
	struct queue *q = FIND(id);

	if (!q)
		return -EINVAL;
	if ((long)len < 0 || len > MSGMAX)
		return -EINVAL;
	if (!user_ok(msgp, sizeof(long) + len))
		return -EFAULT;
	long type = *(volatile long *)msgp;
	if (type < 1)
		return -EINVAL;
	while (q->bytes + len > q->qbytes || q->count >= MSGQNUM || q->count + 1 > q->qbytes) {
		if (flags & IPC_NOWAIT)
			return -EAGAIN;
		long r = ipc_wait(&q->writers, NO_DEADLINE);
		if (FIND(id) != q)
			return -EIDRM;
		if (r == -EINTR)
			return r;
	}
	struct msg_hdr *h = (struct msg_hdr *)(q->buf + q->used);
	h->type = type;
	h->len = len;
	memcpy(h + 1, (const void *)(msgp + sizeof(long)), len);
	q->used += rec_size(len);
	q->bytes += len;
	q->count++;
	q->stime = ipc_now();
	q->lspid = HERMIT_APP_PID;
	ipc_wake(&q->readers);
	return 0;
}

/* The message msgrcv's type asks for, or 0. */
static struct msg_hdr *pick(struct queue *q, long want, int except)
{
	struct msg_hdr *best = 0;

	for (uint64_t off = 0; off < q->used;) {
		struct msg_hdr *h = (struct msg_hdr *)(q->buf + off);
		if (want == 0)
			return h;
		if (want > 0 && (except ? h->type != want : h->type == want))
			return h;
		if (want < 0 && h->type <= -want && (!best || h->type < best->type))
			best = h;
		off += rec_size(h->len);
	}
	return best;
}

long sys_msgrcv(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	int id = (int)a0, flags = (int)a4;
	uint64_t msgp = (uint64_t)a1, size = (uint64_t)a2;
	long want = a3;
	struct queue *q = FIND(id);
	struct msg_hdr *h;

	if (flags & MSG_COPY_)
		return -ENOSYS; /* Linux's checkpoint/restore peek */
	if (!q || (long)size < 0)
		return -EINVAL;
	if (!user_ok(msgp, sizeof(long) + size))
		return -EFAULT;
	while (!(h = pick(q, want, flags & MSG_EXCEPT))) {
		if (flags & IPC_NOWAIT)
			return -ENOMSG;
		long r = ipc_wait(&q->readers, NO_DEADLINE);
		if (FIND(id) != q)
			return -EIDRM;
		if (r == -EINTR)
			return r;
	}
	uint64_t n = h->len;
	if (n > size) {
		if (!(flags & MSG_NOERROR))
			return -E2BIG;
		n = size;
	}
	*(volatile long *)msgp = h->type;
	memcpy((void *)(msgp + sizeof(long)), h + 1, n);
	uint64_t rec = rec_size(h->len), off = (uint64_t)((char *)h - q->buf);
	q->bytes -= h->len;
	q->count--;
	memmove(q->buf + off, q->buf + off + rec, q->used - off - rec);
	q->used -= rec;
	q->rtime = ipc_now();
	q->lrpid = HERMIT_APP_PID;
	ipc_wake(&q->writers);
	return (long)n;
}

long sys_msgctl(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	int cmd = (int)a1 & ~IPC_64_FLAG;
	struct queue *q = FIND(a0);
	struct msqid_ds *ds = (struct msqid_ds *)a2;

	if (!q)
		return -EINVAL;
	switch (cmd) {
	case IPC_STAT:
		if (!user_ok((uint64_t)ds, sizeof(*ds)))
			return -EFAULT;
		memset(ds, 0, sizeof(*ds));
		ipc_perm_out(&ds->msg_perm, &q->obj);
		ds->msg_stime = q->stime;
		ds->msg_rtime = q->rtime;
		ds->msg_ctime = q->obj.ctime;
		ds->msg_cbytes = q->bytes;
		ds->msg_qnum = q->count;
		ds->msg_qbytes = q->qbytes;
		ds->msg_lspid = q->lspid;
		ds->msg_lrpid = q->lrpid;
		return 0;
	case IPC_SET:
		if (!user_ok((uint64_t)ds, sizeof(*ds)))
			return -EFAULT;
		if (ds->msg_qbytes > MSGMNB)
			return -EPERM; /* above MSGMNB needs CAP_SYS_RESOURCE, which the guest lacks */
		ipc_perm_in(&q->obj, &ds->msg_perm);
		q->qbytes = ds->msg_qbytes;
		ipc_wake(&q->writers);
		return 0;
	case IPC_RMID:
		ipc_remove(&q->obj);
		page_free((uint64_t)q->buf, BUF_BYTES / PAGE_SIZE);
		ipc_wake(&q->readers); /* they find it gone: EIDRM */
		ipc_wake(&q->writers);
		return 0;
	default:
		return -EINVAL;
	}
}
