/* The guest's file descriptors: fd -> open file description, which says who
 * serves it.  HOST descriptions hold a handle in the loader's file service
 * (hermit_build/hostfs) and their calls are forwarded with the handle in place
 * of the fd; every other kind is served in the kernel through its file_ops. */
#ifndef HERMIT_FD_H
#define HERMIT_FD_H

#include <stddef.h>
#include <stdint.h>

#define FD_MAX 4096      /* the table's size: RLIMIT_NOFILE's hard limit */
#define FD_SOFT_MAX 1024 /* RLIMIT_NOFILE's soft limit at start, as on Linux */

/* Kinds the kernel serves itself besides devices: pipes and AF_UNIX socket
 * pairs (FILE_UNIX, kernel/pipe.c), eventfds, epoll instances, and IPv4 sockets (net/). */
enum file_kind { FILE_HOST, FILE_DEVICE, FILE_PIPE, FILE_UNIX, FILE_EVENTFD, FILE_EPOLL,
		 FILE_SOCKET };

struct file;
struct stat;
struct device;

/* What a kind serves itself (kernel/fd_serve.c calls these with checked buffers;
 * a missing entry gets the errno Linux gives for an object without it). */
struct file_ops {
	/* off < 0: at the current position (pread/pwrite pass theirs) */
	long (*read)(struct file *f, void *buf, size_t n, int64_t off);
	long (*write)(struct file *f, const void *buf, size_t n, int64_t off);
	long (*lseek)(struct file *f, int64_t off, int whence);
	void (*fstat)(struct file *f, struct stat *st);
	long (*ioctl)(struct file *f, unsigned long req, long arg);
	long (*release)(struct file *f); /* the last reference went */
	/* POLLIN/POLLOUT/POLLERR/POLLHUP/POLLRDHUP as it stands now; none: a file
	 * that never blocks (host files, devices), always POLLIN | POLLOUT */
	unsigned (*poll)(struct file *f);
};

struct file {
	int refs;        /* fds pointing here, plus calls in flight */
	enum file_kind kind;
	int flags;       /* access mode and status flags (F_GETFL) */
	const struct file_ops *ops;
	long handle;     /* FILE_HOST: the loader's handle */
	const struct device *dev; /* FILE_DEVICE */
	struct file *next_free;
	int ident_known;           /* FILE_HOST: st_dev and st_ino below are known */
	uint64_t st_dev, st_ino;   /* (kernel/shmap.c asks when shared mappings exist) */
	uint32_t ev_seq; /* bumped at each poll_notify(f): edge-triggered epoll's edges */
	void *obj;       /* the pipe, socket or epoll instance behind it */
	void *obj2;      /* an AF_UNIX pair's end: the pipe it writes (obj: the one it reads) */
	uint64_t count;  /* FILE_EVENTFD: the counter */
	int efd_flags;   /* FILE_EVENTFD: EFD_SEMAPHORE */
};

/* kernel/fd.c */
void fd_init(void);
struct file *file_alloc(enum file_kind kind, const struct file_ops *ops, int flags);
struct file *fd_file(int fd);   /* the description, or 0: not open */
void file_get(struct file *f);
long file_put(struct file *f);  /* may release the kernel lock (host close) */
long fd_install(struct file *f, int cloexec); /* lowest free fd, or -EMFILE */

/* kernel/sys_host.c: a call to the loader's file service, the kernel lock released
 * while it waits; *node (if given) gets hc_syscall.node */
long host_call(uint64_t nr, const long a[6], uint64_t *node);
/* A forwarded call: its fds become handles (a device's fd: the kernel serves it). */
long fd_forward(uint64_t nr, long a[6], uint64_t *node);
long umask_mode(long mode); /* kernel/umask.c: a creation mode less the guest's umask */
extern const struct file_ops host_file_ops;

/* kernel/fd_serve.c: a forwarded call on a description the kernel serves */
long file_serve(uint64_t nr, const long a[6], struct file *f);
int user_ok(uint64_t addr, uint64_t len); /* a guest buffer the kernel may touch */

/* kernel/shmap.c: MAP_SHARED mappings of host files */
long shmap_map(struct file *f, uint64_t len, int prot, int64_t off);
int shmap_munmap(uint64_t addr, uint64_t len);
void *shmap_before(struct file *f);
void shmap_after(void *mapping);
void shmap_sync_all(void);

/* kernel/dev.c: the devices of spec.py's DEVICES */
const struct device *dev_by_node(uint64_t node);
extern const struct file_ops dev_file_ops;

#endif
