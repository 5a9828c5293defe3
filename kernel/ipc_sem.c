/* System V semaphore sets.  A set's values live in the table (SEMMSL of them at
 * most); semop applies all its operations or none,
 * and waits, when one cannot proceed, until some semaphore of the set changes. */
#include <errno.h>
#include <sys/sem.h>
#include <time.h>

#include <hermit/fd.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

#include "futex.h"
#include "ipc.h"

#define SEMMSL 128  /* semaphores per set: a set is ~1.3 KiB, the table ~42 KiB */
#define SEMOPM 500  /* operations per semop (Linux's) */
#define SEMVMX 32767 /* the largest value */

struct semset {
	struct ipc_obj obj;
	int nsems;
	uint16_t val[SEMMSL];
	uint16_t ncnt[SEMMSL], zcnt[SEMMSL]; /* threads waiting for an increase, for zero */
	int pid[SEMMSL];
	int64_t otime;
	int changed; /* wait key */
};

static struct semset sets[IPC_SLOTS];

#define FIND(id) ((struct semset *)ipc_find(&sets[0].obj, sizeof(struct semset), (int)(id)))

long sys_semget(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	int nsems = (int)a1, fresh;

	if (nsems < 0 || nsems > SEMMSL)
		return -EINVAL;
	long i = ipc_get(&sets[0].obj, sizeof(struct semset), (int32_t)a0, (int)a2, &fresh);
	if (i < 0)
		return i;
	struct semset *s = &sets[i];
	if (fresh) {
		if (nsems == 0)
			return -EINVAL;
		struct ipc_obj o = s->obj;
		memset(s, 0, sizeof(*s));
		s->obj = o;
		s->nsems = nsems;
		s->obj.used = 1;
	} else if (nsems > s->nsems) {
		return -EINVAL;
	}
	return ipc_id(&sets[0].obj, sizeof(struct semset), &s->obj);
}

/* 0: every operation can be applied; else the one that cannot (index + 1), with
 * -ERANGE or -EFBIG for an impossible one. */
static long blocker(const struct semset *s, const struct sembuf *ops, long n)
{
	int val[SEMMSL];

	for (int i = 0; i < s->nsems; i++)
		val[i] = s->val[i];
	for (long i = 0; i < n; i++) {
		int num = ops[i].sem_num, op = ops[i].sem_op;
		if (op == 0 && val[num] != 0)
			return i + 1;
		if (val[num] + op < 0)
			return i + 1;
		if (val[num] + op > SEMVMX)
			return -ERANGE;
		val[num] += op;
	}
	return 0;
}

static long semop_common(long id, uint64_t sops, long nsops, const struct timespec *ts)
{
	struct semset *s = FIND(id);
	uint64_t deadline = NO_DEADLINE;

	if (nsops < 1 || (unsigned long)nsops > (unsigned long)0x7fffffff)
		return -EINVAL;
	if (nsops > SEMOPM)
		return -E2BIG;
	if (!s)
		return -EINVAL;
	if (!user_ok(sops, (uint64_t)nsops * sizeof(struct sembuf)))
		return -EFAULT;
	const struct sembuf *ops = (const struct sembuf *)sops;
	for (long i = 0; i < nsops; i++)
		if (ops[i].sem_num >= s->nsems)
			return -EFBIG;
	if (ts) {
		long r = futex_deadline(0, 0, ts, &deadline);
		if (r)
			return r;
	}
	for (;;) {
		long b = blocker(s, ops, nsops);
		if (b < 0)
			return b;
		if (b == 0)
			break;
		const struct sembuf *w = &ops[b - 1];
		if (w->sem_flg & IPC_NOWAIT)
			return -EAGAIN;
		uint16_t *cnt = w->sem_op ? &s->ncnt[w->sem_num] : &s->zcnt[w->sem_num];
		(*cnt)++;
		long r = ipc_wait(&s->changed, deadline);
		if (FIND(id) != s)
			return -EIDRM;
		(*cnt)--;
		if (r == -EINTR)
			return r;
		if (r == -ETIMEDOUT)
			return -EAGAIN; /* semtimedop's timeout, as Linux reports it */
	}
	for (long i = 0; i < nsops; i++) {
		s->val[ops[i].sem_num] = (uint16_t)(s->val[ops[i].sem_num] + ops[i].sem_op);
		s->pid[ops[i].sem_num] = HERMIT_APP_PID;
	}
	s->otime = ipc_now();
	ipc_wake(&s->changed);
	return 0;
}

long sys_semop(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return semop_common(a0, (uint64_t)a1, a2, 0);
}

long sys_semtimedop(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	return semop_common(a0, (uint64_t)a1, a2, (const struct timespec *)a3);
}

static long stat_set(struct semset *s, struct semid_ds *ds)
{
	if (!user_ok((uint64_t)ds, sizeof(*ds)))
		return -EFAULT;
	memset(ds, 0, sizeof(*ds));
	ipc_perm_out(&ds->sem_perm, &s->obj);
	ds->sem_otime = s->otime;
	ds->sem_ctime = s->obj.ctime;
	ds->sem_nsems = (unsigned short)s->nsems;
	return 0;
}

long sys_semctl(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	int num = (int)a1, cmd = (int)a2 & ~IPC_64_FLAG;
	struct semset *s = FIND(a0);
	uint64_t arg = (uint64_t)a3; /* union semun: a value or a pointer */

	if (!s)
		return -EINVAL;
	int one = cmd == GETVAL || cmd == SETVAL || cmd == GETPID || cmd == GETNCNT || cmd == GETZCNT;
	if (one && (num < 0 || num >= s->nsems))
		return -EINVAL;
	uint64_t all = (uint64_t)s->nsems * sizeof(unsigned short);
	switch (cmd) {
	case GETVAL:
		return s->val[num];
	case GETPID:
		return s->pid[num];
	case GETNCNT:
		return s->ncnt[num];
	case GETZCNT:
		return s->zcnt[num];
	case SETVAL:
		if ((int)arg < 0 || (int)arg > SEMVMX)
			return -ERANGE;
		s->val[num] = (uint16_t)(int)arg;
		s->pid[num] = HERMIT_APP_PID;
		s->obj.ctime = ipc_now();
		ipc_wake(&s->changed);
		return 0;
	case GETALL:
		if (!user_ok(arg, all))
			return -EFAULT;
		memcpy((void *)arg, s->val, all);
		return 0;
	case SETALL:
		if (!user_ok(arg, all))
			return -EFAULT;
		for (int i = 0; i < s->nsems; i++)
			if (((const unsigned short *)arg)[i] > SEMVMX)
				return -ERANGE;
		memcpy(s->val, (const void *)arg, all);
		for (int i = 0; i < s->nsems; i++)
			s->pid[i] = HERMIT_APP_PID;
		s->obj.ctime = ipc_now();
		ipc_wake(&s->changed);
		return 0;
	case IPC_STAT:
		return stat_set(s, (struct semid_ds *)arg);
	case IPC_SET:
		if (!user_ok(arg, sizeof(struct semid_ds)))
			return -EFAULT;
		ipc_perm_in(&s->obj, &((const struct semid_ds *)arg)->sem_perm);
		return 0;
	case IPC_RMID:
		ipc_remove(&s->obj);
		ipc_wake(&s->changed); /* the waiters find it gone: EIDRM */
		return 0;
	default:
		return -EINVAL;
	}
}
