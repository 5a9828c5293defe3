/* The HTTP server's parts (server.c) and its self-test (server_selftest.c). */
#ifndef SERVER_H
#define SERVER_H

#define BIG_LEN (1 << 20) /* /big's body */
extern char server_big[BIG_LEN];

int server_listen(const char *addr, int port, int *bound);
void server_loop(int listener);
int server_selftest(int conns);

#endif
