/* What the three System V IPC kinds share: keys, ids, the ipc_perm they report. */
#include <errno.h>

#include <hermit/task.h>

#include "futex.h"
#include "ipc.h"

#define OBJ(first, stride, i) ((struct ipc_obj *)((char *)(first) + (i) * (stride)))

long ipc_get(struct ipc_obj *first, size_t stride, int32_t key, int flags, int *fresh)
{
	int free_slot = -1;

	*fresh = 0;
	for (int i = 0; i < IPC_SLOTS; i++) {
		struct ipc_obj *o = OBJ(first, stride, i);
		if (!o->used) {
			if (free_slot < 0)
				free_slot = i;
		} else if (key != IPC_PRIVATE && o->key == key) {
			if ((flags & IPC_CREAT) && (flags & IPC_EXCL))
				return -EEXIST;
			return i;
		}
	}
	if (key != IPC_PRIVATE && !(flags & IPC_CREAT))
		return -ENOENT;
	if (free_slot < 0)
		return -ENOSPC;
	struct ipc_obj *o = OBJ(first, stride, free_slot);
	o->key = key;
	o->mode = (uint32_t)flags & 0777;
	o->ctime = ipc_now();
	*fresh = 1; /* `used` is the caller's to set, once the object is whole */
	return free_slot;
}

struct ipc_obj *ipc_find(struct ipc_obj *first, size_t stride, int id)
{
	if (id < 0)
		return 0;
	struct ipc_obj *o = OBJ(first, stride, id % IPC_SLOTS);
	return o->used && o->seq == (uint32_t)id / IPC_SLOTS ? o : 0;
}

int ipc_id(const struct ipc_obj *first, size_t stride, const struct ipc_obj *o)
{
	int slot = (int)(((const char *)o - (const char *)first) / (long)stride);
	return (int)(o->seq * IPC_SLOTS) + slot;
}

void ipc_remove(struct ipc_obj *o)
{
	o->used = 0;
	o->seq = (o->seq + 1) % (0x7fffffff / IPC_SLOTS); /* ids stay positive ints */
}

void ipc_perm_out(struct ipc_perm *p, const struct ipc_obj *o)
{
	memset(p, 0, sizeof(*p));
	p->__ipc_perm_key = o->key;
	p->mode = o->mode; /* uid, gid, cuid, cgid: 0, the guest's only user */
	p->__ipc_perm_seq = (int)(o->seq & 0xffff);
}

void ipc_perm_in(struct ipc_obj *o, const struct ipc_perm *p)
{
	o->mode = (o->mode & ~0777u) | (p->mode & 0777);
	o->ctime = ipc_now();
}

int64_t ipc_now(void)
{
	return (int64_t)(time_realtime_ns() / 1000000000ULL);
}

long ipc_wait(void *key, uint64_t deadline)
{
	futex_enqueue(current, key, ~0u); /* a kernel address: no guest word can match */
	long r = sched_block(deadline);
	futex_cancel(current);
	return r;
}

void ipc_wake(void *key)
{
	futex_wake((uint64_t *)key, 0x7fffffff, ~0u);
}
