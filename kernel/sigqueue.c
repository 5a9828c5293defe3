/* What a pending signal carries, queued as Linux queues it: a real-time signal
 * (32..64) once per sending, in order, each with its own siginfo (sigqueue's
 * value); a standard signal once however often it is sent, with the first sender's
 * siginfo.  Entries come from a fixed pool of SIGQ_MAX (20 KiB): a real-time
 * signal sent when it is empty fails with EAGAIN (Linux's RLIMIT_SIGPENDING), a
 * standard one is still marked pending and reports SI_USER. */
#include <errno.h>
#include <signal.h>

#include <hermit/task.h>

#include "sigqueue.h"

#define SIGQ_MAX 512
#define FIRST_RT 32
#define BIT(s) (1ULL << ((s) - 1))

static struct ksig pool[SIGQ_MAX];
static struct ksig *free_list;
static unsigned never_used; /* pool[never_used..] untouched: no free list built at boot */
static struct ksig *process_queue;

static struct ksig **queue_of(struct task *t)
{
	return t ? &t->sigq : &process_queue;
}

static struct ksig *alloc(void)
{
	struct ksig *k = free_list;

	if (k)
		free_list = k->next;
	else if (never_used < SIGQ_MAX)
		k = &pool[never_used++];
	return k;
}

long sigq_post(struct task *t, uint64_t *pending, int sig, const struct ksig *info)
{
	if (sig < FIRST_RT && (*pending & BIT(sig)))
		return 0; /* a standard signal is pending once */
	struct ksig *k = alloc();
	if (!k) {
		if (sig >= FIRST_RT)
			return -EAGAIN;
		*pending |= BIT(sig);
		return 0;
	}
	*k = *info;
	k->sig = sig;
	k->next = 0;
	struct ksig **q = queue_of(t);
	while (*q)
		q = &(*q)->next;
	*q = k;
	*pending |= BIT(sig);
	return 0;
}

void sigq_take(struct task *t, uint64_t *pending, int sig, struct ksig *out)
{
	struct ksig **q = queue_of(t), *found = 0;
	int more = 0;

	*out = (struct ksig){ .sig = sig, .code = SI_USER, .first = HERMIT_APP_PID };
	for (; *q;) {
		struct ksig *k = *q;
		if (k->sig != sig) {
			q = &k->next;
		} else if (!found) {
			found = k;
			*q = k->next;
		} else {
			more = 1;
			break;
		}
	}
	if (found) {
		*out = *found;
		found->next = free_list;
		free_list = found;
	}
	if (!more)
		*pending &= ~BIT(sig);
}

void sigq_fill(siginfo_t *si, const struct ksig *k)
{
	memset(si, 0, sizeof(*si));
	si->si_signo = k->sig;
	si->si_errno = k->err;
	si->si_code = k->code;
	memcpy(&si->__si_fields.__si_common.__first, &k->first, sizeof(k->first));
	si->si_value.sival_ptr = (void *)k->value;
}

void sigq_from_user(struct ksig *k, const siginfo_t *si)
{
	k->err = si->si_errno;
	k->code = si->si_code;
	memcpy(&k->first, &si->__si_fields.__si_common.__first, sizeof(k->first));
	k->value = (uint64_t)si->si_value.sival_ptr;
}

/* A thread ends: what was queued for it alone goes back to the pool. */
void sigq_drop(struct task *t)
{
	while (t->sigq) {
		struct ksig *k = t->sigq;
		t->sigq = k->next;
		k->next = free_list;
		free_list = k;
	}
	t->sigpending = 0;
}
