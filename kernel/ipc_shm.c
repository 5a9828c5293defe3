/* System V shared memory.  A segment is physically contiguous pages, taken at
 * shmget and freed once removed and detached.  Memory is identity-mapped and there
 * is one address space, so shmat gives the segment's own address, the same for
 * every attach (a shmaddr elsewhere is EINVAL); attaches are counted per segment. */
#include <errno.h>
#include <sys/shm.h>

#include <hermit/fd.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

#include "ipc.h"

struct segment {
	struct ipc_obj obj;
	uint64_t addr, size, npages;
	uint64_t nattch;
	int removed; /* IPC_RMID while attached: freed at the last shmdt */
	int64_t atime, dtime;
};

static struct segment segs[IPC_SLOTS];

#define FIND(id) ((struct segment *)ipc_find(&segs[0].obj, sizeof(struct segment), (int)(id)))

static void destroy(struct segment *s)
{
	page_free(s->addr, s->npages);
	s->addr = 0;
	ipc_remove(&s->obj);
}

long sys_shmget(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	uint64_t size = (uint64_t)a1;
	int fresh;
	long i = ipc_get(&segs[0].obj, sizeof(struct segment), (int32_t)a0, (int)a2, &fresh);

	if (i < 0)
		return i;
	struct segment *s = &segs[i];
	if (fresh) {
		if (size < 1 || size > ram_total())
			return -EINVAL;
		uint64_t n = ALIGN_UP(size, PAGE_SIZE) / PAGE_SIZE, addr = page_alloc(n, 1);
		if (!addr)
			return -ENOMEM;
		struct ipc_obj o = s->obj;
		*s = (struct segment){ .obj = o, .addr = addr, .size = size, .npages = n };
		s->obj.used = 1;
	} else if (size > s->size || s->removed) {
		return s->removed ? -ENOENT : -EINVAL;
	}
	return ipc_id(&segs[0].obj, sizeof(struct segment), &s->obj);
}

long sys_shmat(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	struct segment *s = FIND(a0);
	uint64_t want = (uint64_t)a1;

	if (!s)
		return -EINVAL;
	if ((int)a2 & SHM_RND)
		want = ALIGN_DOWN(want, SHMLBA);
	if (want && want != s->addr)
		return -EINVAL; /* one address space, identity-mapped: only its own address */
	s->nattch++;
	s->atime = ipc_now();
	return (long)s->addr;
}

long sys_shmdt(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	for (int i = 0; i < IPC_SLOTS; i++) {
		struct segment *s = &segs[i];
		if (s->addr && s->addr == (uint64_t)a0 && s->nattch) {
			s->dtime = ipc_now();
			if (--s->nattch == 0 && s->removed)
				destroy(s);
			return 0;
		}
	}
	return -EINVAL;
}

long sys_shmctl(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	int cmd = (int)a1 & ~IPC_64_FLAG;
	struct segment *s = FIND(a0);
	struct shmid_ds *ds = (struct shmid_ds *)a2;

	if (!s)
		return -EINVAL;
	switch (cmd) {
	case IPC_STAT:
		if (!user_ok((uint64_t)ds, sizeof(*ds)))
			return -EFAULT;
		memset(ds, 0, sizeof(*ds));
		ipc_perm_out(&ds->shm_perm, &s->obj);
		if (s->removed)
			ds->shm_perm.mode |= SHM_DEST;
		ds->shm_segsz = s->size;
		ds->shm_atime = s->atime;
		ds->shm_dtime = s->dtime;
		ds->shm_ctime = s->obj.ctime;
		ds->shm_cpid = ds->shm_lpid = HERMIT_APP_PID;
		ds->shm_nattch = s->nattch;
		return 0;
	case IPC_SET:
		if (!user_ok((uint64_t)ds, sizeof(*ds)))
			return -EFAULT;
		ipc_perm_in(&s->obj, &ds->shm_perm);
		return 0;
	case IPC_RMID:
		if (!s->nattch) {
			destroy(s);
		} else {
			s->removed = 1;
			s->obj.key = IPC_PRIVATE; /* as Linux: the key names a new segment now */
		}
		return 0;
	case SHM_LOCK:
	case SHM_UNLOCK:
		return 0; /* nothing is ever swapped */
	default:
		return -EINVAL;
	}
}
