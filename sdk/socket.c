/*
 * socket() as musl's, plus a reference to the network member of libhermit.a
 * (net/sock.c's __hermit_net): this object is a member of libhermit.a, which the
 * link searches before musl's libc.a, so an application that calls socket(), or
 * links a libc function that does (getaddrinfo), gets lwIP, the NICs and the
 * socket calls; one that never does gets an image without them, where socket()
 * says ENOSYS.  An application that makes the system call itself links the
 * network with -Wl,-u,__hermit_net.
 */
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

extern const char __hermit_net;
/* a data reference, so the link must resolve it: any image calling socket() */
__attribute__((used)) static const char *const net_member = &__hermit_net;

int socket(int domain, int type, int protocol)
{
	return (int)syscall(SYS_socket, domain, type, protocol);
}
