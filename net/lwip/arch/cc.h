/* lwIP's compiler and platform glue for hermit (lwIP includes it as "arch/cc.h").
 * lwIP is built with the kernel's flags but without the kernel's headers: what it
 * needs from the kernel is declared here (net/sys_arch.c, kernel/log.c). */
#ifndef HERMIT_LWIP_CC_H
#define HERMIT_LWIP_CC_H

#include <stdint.h>

#define LWIP_NO_CTYPE_H 1  /* lwIP's own isdigit & co., not libc's */
#define LWIP_NO_INTTYPES_H 1
#define X8_F "02x"
#define U16_F "u"
#define S16_F "d"
#define X16_F "x"
#define U32_F "u"
#define S32_F "d"
#define X32_F "x"
#define SZT_F "zu"

void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void net_assert(const char *msg, const char *file, int line);
uint32_t net_rand(void);

#define LWIP_PLATFORM_DIAG(x) do { kprintf x; } while (0)
#define LWIP_PLATFORM_ASSERT(x) net_assert((x), __FILE__, __LINE__)
#define LWIP_RAND() net_rand()

#endif
