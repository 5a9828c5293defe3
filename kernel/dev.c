/* The devices of spec.py's DEVICES (/dev/null, /dev/zero, /dev/full, /dev/random,
 * /dev/urandom), served by the kernel with no host access.  They behave as
 * Linux's memory devices of the same numbers, so they are told apart by minor. */
#include <errno.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <hermit/arch.h>
#include <hermit/fd.h>

enum { MINOR_NULL = 3, MINOR_ZERO = 5, MINOR_FULL = 7, MINOR_RANDOM = 8, MINOR_URANDOM = 9 };

/* st_dev of every device: a synthetic file system of its own (Linux's devtmpfs
 * also has major 0); st_ino is the node id. */
#define DEVICES_ST_DEV makedev(0, 6)

struct device {
	uint64_t node;
	const char *path;
	unsigned major, minor;
};

#define DEVICE(node, path, major, minor) { node, path, major, minor },
static const struct device devices[] = { HERMIT_DEVICES(DEVICE) };
#undef DEVICE

const struct device *dev_by_node(uint64_t node)
{
	for (size_t i = 0; i < ARRAY_SIZE(devices); i++)
		if (devices[i].node == node)
			return &devices[i];
	return 0;
}

static long dev_read(struct file *f, void *buf, size_t n, int64_t off)
{
	(void)off;
	switch (f->dev->minor) {
	case MINOR_NULL:
		return 0;
	case MINOR_RANDOM:
	case MINOR_URANDOM:
		random_fill(buf, n);
		return (long)n;
	default: /* zero, full */
		memset(buf, 0, n);
		return (long)n;
	}
}

static long dev_write(struct file *f, const void *buf, size_t n, int64_t off)
{
	(void)buf, (void)off;
	return f->dev->minor == MINOR_FULL ? -ENOSPC : (long)n;
}

static long dev_lseek(struct file *f, int64_t off, int whence)
{
	(void)f, (void)off, (void)whence;
	return 0; /* no position, as on Linux */
}

static void dev_fstat(struct file *f, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = DEVICES_ST_DEV;
	st->st_ino = f->dev->node;
	st->st_nlink = 1;
	st->st_mode = S_IFCHR | 0666;
	st->st_rdev = makedev(f->dev->major, f->dev->minor);
	st->st_blksize = 4096;
}

const struct file_ops dev_file_ops = {
	.read = dev_read,
	.write = dev_write,
	.lseek = dev_lseek,
	.fstat = dev_fstat,
};
