/* System V IPC (issue 15, §3): message queues (types, MSG_EXCEPT, MSG_NOERROR,
 * E2BIG, a full queue, a receiver that blocks until a send), semaphore sets (semop
 * all-or-nothing, IPC_NOWAIT, semtimedop's timeout, a waiter woken by another
 * thread, GETNCNT, SETVAL/GETVAL/SETALL/GETALL, IPC_STAT, EIDRM for a waiter when
 * the set is removed) and shared memory (shmget/shmat/shmdt/shmctl, attach counts,
 * removal while attached), with Linux's errno values. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#include "../common/check.h"

struct msg {
	long type;
	char text[64];
};

static void nap(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };
	nanosleep(&ts, 0);
}

static int q;

static void *send_later(void *arg)
{
	struct msg m = { 42, "late" };
	(void)arg;
	nap(30);
	msgsnd(q, &m, 5, 0);
	return 0;
}

static void messages(void)
{
	struct msg m;
	struct msqid_ds ds;

	q = msgget(IPC_PRIVATE, IPC_CREAT | 0600);
	CHECK(q >= 0);
	for (long t = 1; t <= 3; t++) {
		m.type = t;
		snprintf(m.text, sizeof(m.text), "type %ld", t);
		CHECK(msgsnd(q, &m, strlen(m.text) + 1, 0) == 0);
	}
	CHECK(msgctl(q, IPC_STAT, &ds) == 0 && ds.msg_qnum == 3 && ds.msg_cbytes == 21 &&
	      ds.msg_qbytes == 16384 && (ds.msg_perm.mode & 0777) == 0600);
	CHECK(msgrcv(q, &m, sizeof(m.text), 2, 0) == 7 && m.type == 2 && !strcmp(m.text, "type 2"));
	CHECK(msgrcv(q, &m, sizeof(m.text), 1, MSG_EXCEPT) == 7 && m.type == 3);
	CHECK(msgrcv(q, &m, 3, 0, 0) == -1 && errno == E2BIG);
	CHECK(msgrcv(q, &m, 3, 0, MSG_NOERROR) == 3 && m.type == 1 && !memcmp(m.text, "typ", 3));
	FAILS_WITH(msgrcv(q, &m, sizeof(m.text), 0, IPC_NOWAIT), ENOMSG);
	FAILS_WITH(msgsnd(q, 0, 1, 0), EFAULT);
	m.type = 0;
	FAILS_WITH(msgsnd(q, &m, 1, 0), EINVAL);
	m.type = 5;
	FAILS_WITH(msgsnd(q, &m, 9000, 0), EINVAL); /* above MSGMAX */
	for (long t = 5; t >= 4; t--) {
		m.type = t;
		CHECK(msgsnd(q, &m, 1, 0) == 0);
	}
	CHECK(msgrcv(q, &m, sizeof(m.text), -10, 0) == 1 && m.type == 4); /* the lowest type */
	CHECK(msgrcv(q, &m, sizeof(m.text), 0, 0) == 1 && m.type == 5);

	static char big[8192 + sizeof(long)];
	int sent = 0;
	*(long *)big = 1;
	while (msgsnd(q, big, 8192, IPC_NOWAIT) == 0)
		sent++;
	check(sent == 2 && errno == EAGAIN, "a full queue (16384 bytes): EAGAIN with IPC_NOWAIT");
	CHECK(msgrcv(q, big, 8192, 0, 0) == 8192 && msgrcv(q, big, 8192, 0, 0) == 8192);

	pthread_t th;
	pthread_create(&th, 0, send_later, 0);
	check(msgrcv(q, &m, sizeof(m.text), 42, 0) == 5 && !strcmp(m.text, "late"),
	      "msgrcv waits for a send from another thread");
	pthread_join(th, 0);
	CHECK(msgctl(q, IPC_RMID, 0) == 0);
	FAILS_WITH(msgsnd(q, &m, 1, 0), EINVAL);
	FAILS_WITH(msgctl(q, IPC_STAT, &ds), EINVAL);

	key_t key = 0x48450000 | (getpid() & 0xffff);
	int k = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
	CHECK(k >= 0 && msgget(key, 0) == k);
	FAILS_WITH(msgget(key, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
	CHECK(msgctl(k, IPC_RMID, 0) == 0);
	FAILS_WITH(msgget(key, 0), ENOENT);
}

static int sem;
static volatile long waiter_result = 1;

static void *sem_waiter(void *arg)
{
	struct sembuf down = { (unsigned short)(long)arg, -1, 0 };
	waiter_result = semop(sem, &down, 1) == 0 ? 0 : errno;
	return 0;
}

static void semaphores(void)
{
	struct sembuf op[2];
	unsigned short vals[3] = { 1, 2, 3 }, got[3];
	struct semid_ds ds;

	sem = semget(IPC_PRIVATE, 3, IPC_CREAT | 0600);
	CHECK(sem >= 0);
	CHECK(semctl(sem, 0, GETVAL) == 0);
	CHECK(semctl(sem, 1, SETVAL, 5) == 0 && semctl(sem, 1, GETVAL) == 5);
	FAILS_WITH(semctl(sem, 1, SETVAL, 40000), ERANGE);
	FAILS_WITH(semctl(sem, 3, GETVAL), EINVAL);
	CHECK(semctl(sem, 0, SETALL, vals) == 0 && semctl(sem, 0, GETALL, got) == 0 &&
	      !memcmp(got, vals, sizeof(vals)));
	CHECK(semctl(sem, 0, IPC_STAT, &ds) == 0 && ds.sem_nsems == 3);

	op[0] = (struct sembuf){ 0, -1, 0 };
	op[1] = (struct sembuf){ 1, -5, IPC_NOWAIT }; /* 2 - 5 < 0: nothing applied */
	FAILS_WITH(semop(sem, op, 2), EAGAIN);
	check(semctl(sem, 0, GETVAL) == 1, "semop applies all its operations or none");
	op[1] = (struct sembuf){ 1, -2, 0 };
	CHECK(semop(sem, op, 2) == 0 && semctl(sem, 0, GETVAL) == 0 && semctl(sem, 1, GETVAL) == 0);
	op[0] = (struct sembuf){ 3, 1, 0 };
	FAILS_WITH(semop(sem, op, 1), EFBIG);
	FAILS_WITH(semop(sem, 0, 1), EFAULT);
	op[0] = (struct sembuf){ 2, 0, IPC_NOWAIT }; /* wait for zero, but it is 3 */
	FAILS_WITH(semop(sem, op, 1), EAGAIN);
	struct timespec t20 = { 0, 20000000 };
	op[0] = (struct sembuf){ 0, -1, 0 };
	FAILS_WITH(semtimedop(sem, op, 1, &t20), EAGAIN);

	pthread_t th;
	pthread_create(&th, 0, sem_waiter, (void *)0);
	while (semctl(sem, 0, GETNCNT) != 1)
		nap(1);
	check(semctl(sem, 0, GETNCNT) == 1, "GETNCNT counts the waiter");
	op[0] = (struct sembuf){ 0, 1, 0 };
	CHECK(semop(sem, op, 1) == 0);
	pthread_join(th, 0);
	check(waiter_result == 0 && semctl(sem, 0, GETVAL) == 0, "the waiter took the post");

	pthread_create(&th, 0, sem_waiter, (void *)0);
	while (semctl(sem, 0, GETNCNT) != 1)
		nap(1);
	CHECK(semctl(sem, 0, IPC_RMID) == 0);
	pthread_join(th, 0);
	check(waiter_result == EIDRM, "a waiter of a removed set: EIDRM");
	FAILS_WITH(semctl(sem, 0, GETVAL), EINVAL);
	FAILS_WITH(semget(IPC_PRIVATE, 0, IPC_CREAT | 0600), EINVAL);
}

static void shared_memory(void)
{
	struct shmid_ds ds;
	int id = shmget(IPC_PRIVATE, 3 * 4096 + 100, IPC_CREAT | 0600);

	CHECK(id >= 0);
	char *a = shmat(id, 0, 0), *b = shmat(id, 0, 0);
	CHECK(a != (void *)-1 && b != (void *)-1);
	int zero = 1;
	for (int i = 0; i < 3 * 4096 + 100; i++)
		zero &= a[i] == 0;
	check(zero, "a new segment reads as zero");
	strcpy(a + 5000, "through a");
	check(!strcmp(b + 5000, "through a"), "two attaches see each other's writes");
	CHECK(shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_nattch == 2 && ds.shm_segsz == 3 * 4096 + 100);
	FAILS_WITH(shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600), EINVAL);
	CHECK(shmdt(a) == 0 && shmctl(id, IPC_STAT, &ds) == 0 && ds.shm_nattch == 1);
	CHECK(shmctl(id, IPC_RMID, 0) == 0);
	check(!strcmp(b + 5000, "through a"), "removed while attached: still there");
	CHECK(shmdt(b) == 0);
	FAILS_WITH(shmdt(b), EINVAL);
	FAILS_WITH(shmctl(id, IPC_STAT, &ds), EINVAL);
	FAILS_WITH(shmat(id, 0, 0) == (void *)-1 ? -1 : 0, EINVAL);

	key_t key = 0x48460000 | (getpid() & 0xffff);
	id = shmget(key, 8192, IPC_CREAT | IPC_EXCL | 0600);
	CHECK(id >= 0 && shmget(key, 4096, 0) == id);
	FAILS_WITH(shmget(key, 16384, 0), EINVAL);
	CHECK(shmctl(id, IPC_RMID, 0) == 0);
}

int main(void)
{
	setvbuf(stdout, 0, _IOLBF, 0);
	messages();
	semaphores();
	shared_memory();
	printf("sysv: ");
	return check_summary();
}
