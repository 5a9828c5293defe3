/*
 * Shared mappings of host files (mmap MAP_SHARED): memory is identity-mapped, so a
 * mapping is the application's pages filled from the file, written back by msync,
 * munmap and the guest's exit (Linux's page cache would keep them at a crash; a
 * guest that faults loses what it did not msync).  One mapping per file: another
 * mmap of the same file (any fd, found by st_dev and st_ino) that lies within it
 * gets the address of that range in it, so both see each other's writes; one
 * reaching outside it fails with EINVAL.  read/write/ftruncate of a mapped file,
 * through any description, stay coherent with the mapping: it is written back
 * before each and read in again after a change (a whole mapping per call: cheap for
 * the small files of sem_open and shm_open, costly for large ones).  At most
 * SHMAP_MAX mappings.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <hermit/fd.h>
#include <hermit/syscalls.h>
#include <hermit/task.h>

#define SHMAP_MAX 64

struct shmap {
	struct file *f;      /* the description mapped (held) */
	uint64_t addr, len;  /* pages */
	int64_t off;
	uint64_t dev, ino;
	int refs;            /* mmaps of it not yet unmapped */
};

static struct shmap maps[SHMAP_MAX];
static int nmaps;

static long host_fstat(struct file *f, struct stat *st)
{
	long a[6] = { f->handle, (long)st };
	return host_call(SYS_fstat, a, 0);
}

/* The file's size now, or -errno. */
static int64_t file_size(struct file *f)
{
	struct stat st;
	long r = host_fstat(f, &st);
	return r < 0 ? r : st.st_size;
}

static long writeback(struct shmap *m, uint64_t from, uint64_t to)
{
	int64_t size = file_size(m->f), end = m->off + (int64_t)to;

	if (size < 0)
		return size;
	if (end > size)
		end = size; /* nothing beyond the end of the file (Linux: SIGBUS there) */
	for (int64_t pos = m->off + (int64_t)from; pos < end;) {
		long a[6] = { m->f->handle, (long)(m->addr + (uint64_t)(pos - m->off)), end - pos, pos };
		long n = host_call(SYS_pwrite64, a, 0);
		if (n <= 0)
			return n < 0 ? n : -EIO;
		pos += n;
	}
	return 0;
}

static long readin(struct shmap *m)
{
	uint64_t done = 0;

	while (done < m->len) {
		long a[6] = { m->f->handle, (long)(m->addr + done), (long)(m->len - done),
			      m->off + (long)done };
		long n = host_call(SYS_pread64, a, 0);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		done += (uint64_t)n;
	}
	memset((void *)(m->addr + done), 0, m->len - done); /* past the end: zero */
	return 0;
}

long shmap_map(struct file *f, uint64_t len, int prot, int64_t off)
{
	struct stat st;
	long r = host_fstat(f, &st);

	if (r < 0)
		return r;
	if (!S_ISREG(st.st_mode))
		return -ENODEV;
	len = ALIGN_UP(len, PAGE_SIZE);
	for (int i = 0; i < nmaps; i++) {
		struct shmap *m = &maps[i];
		if (m->dev != st.st_dev || m->ino != st.st_ino)
			continue;
		if (off < m->off || off + (int64_t)len > m->off + (int64_t)m->len)
			return -EINVAL; /* one mapping per file: a second one lies within it */
		m->refs++;
		return (long)(m->addr + (uint64_t)(off - m->off));
	}
	if (nmaps == SHMAP_MAX)
		return -ENOMEM;
	long addr = vma_mmap(0, len, prot | PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
	if (addr < 0)
		return addr;
	struct shmap *m = &maps[nmaps];
	*m = (struct shmap){ .f = f, .addr = (uint64_t)addr, .len = len, .off = off,
			     .dev = st.st_dev, .ino = st.st_ino, .refs = 1 };
	file_get(f);
	r = readin(m);
	if (r < 0) {
		vma_munmap((uint64_t)addr, len);
		file_put(f);
		return r;
	}
	nmaps++;
	return addr;
}

static struct shmap *containing(uint64_t addr)
{
	for (int i = 0; i < nmaps; i++)
		if (addr >= maps[i].addr && addr < maps[i].addr + maps[i].len)
			return &maps[i];
	return 0;
}

/* munmap of [addr, addr + len): 1 if it touched a shared mapping (done here). */
int shmap_munmap(uint64_t addr, uint64_t len)
{
	struct shmap *m = containing(addr);

	if (!m)
		return 0;
	uint64_t from = addr - m->addr, to = from + ALIGN_UP(len, PAGE_SIZE);
	if (to > m->len)
		to = m->len;
	writeback(m, from, to); /* errors are lost, as at Linux's munmap */
	if (--m->refs > 0 || from || to < m->len) {
		if (m->refs <= 0)
			m->refs = 1; /* part of it stays mapped */
		return 1;
	}
	struct file *f = m->f;
	vma_munmap(m->addr, m->len);
	*m = maps[--nmaps];
	file_put(f);
	return 1;
}

long sys_msync(SYSCALL_PARAMS)
{
	UNUSED_ARGS();
	uint64_t addr = (uint64_t)a0, len = ALIGN_UP((uint64_t)a1, PAGE_SIZE);
	int flags = (int)a2;
	long r = 0;

	if ((addr & (PAGE_SIZE - 1)) || (flags & ~(MS_ASYNC | MS_SYNC | MS_INVALIDATE)) ||
	    ((flags & MS_ASYNC) && (flags & MS_SYNC)))
		return -EINVAL;
	if (addr + len < addr)
		return -ENOMEM;
	for (uint64_t p = addr; p < addr + len;) {
		struct shmap *m = containing(p);
		if (!m) { /* the application's other pages, a run at a time: nothing to do */
			uint64_t stop = addr + len;
			for (int i = 0; i < nmaps; i++)
				if (maps[i].addr > p && maps[i].addr < stop)
					stop = maps[i].addr;
			uint64_t run = page_user_prefix(p, (stop - p) / PAGE_SIZE, 1);
			if (!run)
				return -ENOMEM; /* not mapped */
			p += run * PAGE_SIZE;
			continue;
		}
		uint64_t end = addr + len < m->addr + m->len ? addr + len : m->addr + m->len;
		long e = writeback(m, p - m->addr, end - m->addr);
		r = r ? r : e;
		p = end;
	}
	return r;
}

/* Before a forwarded call on a host description: if its file is mapped, the
 * mapping goes to the file first; the mapping is returned for shmap_after when
 * the call changes the file (it is read in again then), else 0. */
void *shmap_before(struct file *f)
{
	if (!nmaps)
		return 0;
	if (!f->ident_known) {
		struct stat st;
		if (host_fstat(f, &st) < 0)
			return 0;
		f->st_dev = st.st_dev;
		f->st_ino = st.st_ino;
		f->ident_known = 1;
	}
	for (int i = 0; i < nmaps; i++)
		if (maps[i].dev == f->st_dev && maps[i].ino == f->st_ino) {
			writeback(&maps[i], 0, maps[i].len);
			return &maps[i];
		}
	return 0;
}

void shmap_after(void *mapping)
{
	readin(mapping);
}

/* The guest ends: every mapping goes to its file. */
void shmap_sync_all(void)
{
	for (int i = 0; i < nmaps; i++)
		writeback(&maps[i], 0, maps[i].len);
}
