/* The socket calls: kernel/socket.c takes them from the system call table and
 * hands IPv4 sockets (FILE_SOCKET) to the network stack in net/ (lwIP), AF_UNIX
 * pairs (FILE_UNIX) to kernel/pipe.c.  Built without the stack (Meson option
 * net=disabled, or lwIP's source missing), net/none.c answers ENOSYS. */
#ifndef HERMIT_NET_H
#define HERMIT_NET_H

#include <stdint.h>

struct file;

/* net/: socket(2) for AF_INET; a new fd or -errno */
long net_socket(int domain, int type, int proto);
/* net/: the call nr (bind, connect, sendto, ...) on an IPv4 socket; a[] as the
 * application passed them, f held for the call */
long net_sockcall(uint64_t nr, struct file *f, const long a[6]);

/* net/: the process ends; TCP's queued data goes out first (a few seconds at most) */
void net_linger(void);

/* kernel/pipe.c: AF_UNIX stream pairs */
long unix_socketpair(long domain, long type, long proto, int *out);
long unix_shutdown(struct file *f, int how);

#endif
