/* The kernel's memcpy and memset as x86_64 string instructions (fast with ERMS). */
#ifndef ASM_STRING_H
#define ASM_STRING_H

#include <stddef.h>

static inline void arch_memcpy(void *dst, const void *src, size_t n)
{
	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

static inline void arch_memset(void *dst, int c, size_t n)
{
	__asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(c) : "memory");
}

#endif
