/* lwIP's configuration for hermit.  lwIP runs without threads of its own
 * (NO_SYS): every call into it is made under the kernel lock, by the thread of
 * the system call that needs it (net/), which is lwIP's "core locking" with the
 * kernel lock as the core lock.  Loopback packets are delivered and timers run
 * by net_pump() at each socket call and whenever a waiting thread wakes (see
 * net/stack.c). */
#ifndef HERMIT_LWIPOPTS_H
#define HERMIT_LWIPOPTS_H

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0 /* the kernel lock */
#define LWIP_SOCKET 0          /* the socket calls are net/'s, over the raw API */
#define LWIP_NETCONN 0
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_TCP 1
#define LWIP_UDP 1
#define LWIP_ICMP 1
#define LWIP_RAW 0
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_DHCP 1
#define DHCP_DOES_ARP_CHECK 0  /* the user-mode network hands out one address */
#define LWIP_DNS 0             /* musl resolves names itself, over UDP */
#define LWIP_IGMP 0
#define LWIP_STATS 0
#define LWIP_NETIF_HOSTNAME 0
#define LWIP_NETIF_STATUS_CALLBACK 1

/* 127.0.0.1 without a NIC; delivered by netif_poll_all() (net_pump) */
#define LWIP_HAVE_LOOPIF 1
#define LWIP_NETIF_LOOPBACK 1
#define LWIP_LOOPBACK_MAX_PBUFS 0
#define LWIP_NETIF_LOOPBACK_MULTITHREADING 0

/* Memory: one heap of MEM_SIZE bytes, taken from the page allocator when the
 * stack starts (net_heap), serves the pools too, so no pool runs out before the
 * heap does: 1,000 connections with their buffers fit (see README). */
#define MEM_ALIGNMENT 8
#define MEM_SIZE (32UL << 20)
#define MEMP_MEM_MALLOC 1
extern void *net_heap;
#define LWIP_RAM_HEAP_POINTER net_heap
#define MEMP_NUM_TCP_PCB 4096
#define MEMP_NUM_TCP_PCB_LISTEN 256
#define MEMP_NUM_UDP_PCB 1024
#define MEMP_NUM_TCP_SEG 16384
#define MEMP_NUM_PBUF 4096
#define PBUF_POOL_SIZE 1024
#define MEMP_NUM_SYS_TIMEOUT 16

/* TCP */
#define TCP_MSS 1460
/* A 256 KiB window (scaled by 4): over a tap device the round trip through the
 * loader's NIC thread held a 64 KiB window to ~270 MB/s from the host; 4x gave ~400
 * (user-mode networking, where libslirp is the peer, moved neither way). */
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 2
#define TCP_WND (4 * 44 * TCP_MSS)
#define TCP_SND_BUF (44 * TCP_MSS)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_LISTEN_BACKLOG 0            /* net/tcp.c keeps the accept queue */
#define LWIP_TCP_KEEPALIVE 1
#define SO_REUSE 1
#define LWIP_SO_RCVBUF 0
#define TCP_QUEUE_OOSEQ 1
#define LWIP_TCP_TIMESTAMPS 0

/* net/ calls lwip_htons() & co. by name: musl's <netinet/in.h> declares htons() */
#define LWIP_DONT_PROVIDE_BYTEORDER_FUNCTIONS 1

/* checksums are computed by lwIP (no offload) */
#define LWIP_CHECKSUM_ON_COPY 1

#endif
