/* System V IPC in the kernel (kernel/ipc*.c): one process, so no permission checks
 * beyond the modes kept for IPC_STAT, and SEM_UNDO has nobody to undo for.  Each
 * kind has a fixed table of IPC_SLOTS objects; an id is seq * IPC_SLOTS + slot, so a
 * removed object's id never names its successor. */
#ifndef KERNEL_IPC_H
#define KERNEL_IPC_H

#include <stdint.h>
#include <sys/ipc.h>

#define IPC_SLOTS 32 /* per kind: MSGMNI, SEMMNI, SHMMNI */
#define IPC_64_FLAG 0x100 /* musl's ctl calls ask for the 64-bit layouts: ours */

struct ipc_obj {
	int used;
	int32_t key;
	uint32_t seq;
	uint32_t mode;
	int64_t ctime;
};

/* Find or make the object for key (msgget/semget/shmget rules): its slot, with
 * *fresh set when the caller must initialise it, or -errno. */
long ipc_get(struct ipc_obj *first, size_t stride, int32_t key, int flags, int *fresh);
/* The object an id names, or 0 (EINVAL). */
struct ipc_obj *ipc_find(struct ipc_obj *first, size_t stride, int id);
int ipc_id(const struct ipc_obj *first, size_t stride, const struct ipc_obj *o);
void ipc_remove(struct ipc_obj *o);
void ipc_perm_out(struct ipc_perm *p, const struct ipc_obj *o);
void ipc_perm_in(struct ipc_obj *o, const struct ipc_perm *p);
int64_t ipc_now(void); /* seconds of the wall clock */
/* Block on the kernel address key until woken, the deadline, or a signal. */
long ipc_wait(void *key, uint64_t deadline);
void ipc_wake(void *key);

#endif
