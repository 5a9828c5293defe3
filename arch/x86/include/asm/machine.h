/* The machine's name as Linux gives it: uname's machine and AT_PLATFORM. */
#ifndef ASM_MACHINE_H
#define ASM_MACHINE_H

#define ARCH_MACHINE "x86_64"

#endif
