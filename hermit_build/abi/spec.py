"""The loader ABI: the one definition shared by the kernel (C) and the loaders (Python).

It also fixes what the kernel shares with code in the application's ring 3: the
vvar page the vDSO reads the clocks from, and the process id.

`gen_c.py` renders `hermit/abi.h` from this module at build time; `hermit_build.abi`
builds `struct.Struct` objects from it at import time.  Every struct field is a
64-bit little-endian integer so the C and Python layouts cannot drift apart
through padding rules.
"""

# 2: the kernel holds the fd table; hc_syscall.node; FORWARDED
# 3: hc_slot.seq; events delivered by the loader (hc_event)
# 4: SYSCALL_SLOT; hc_fault.in_app; statfs and fstatfs forwarded
# 5: boot_info.hc_poll (uhyve's poller: HC_SYSCALL without a VM exit)
# 6: boot_info.debug, HC_DEBUG and hc_debug (uhyve's GDB server); uhyve's NIC
#    (HC_NET_OPEN, HC_NET_KICK, struct hc_net, struct net_ring); the system-call
#    trace and run statistics (boot_info.trace*, stats*; HC_TRACE)
# 7: poll forwarded (pollfds of handles: the host's readiness for poll/select/epoll)
# 8: boot_info.net_ip, net_mask, net_gw (a static address: the tap backend)
# 9: boot_info.page_tables, cpu_ready (uhyve sets up the kernel's page tables and
#    registers before boot); NOTE_CPU_STATE
ABI_VERSION = 9
MAX_CPUS = 64

# Numbers both sides know: addresses, limits, marks.
CONSTANTS: dict[str, int] = {
    "ABI_VERSION": ABI_VERSION,
    "BOOT_INFO_MAGIC": 0x4845524D49540001,  # "HERMIT" + version
    # The image says which ABI it was built for in an ELF note (PT_NOTE, name NOTE_NAME,
    # this type, a u32): the loader refuses a mismatch before it boots, the kernel
    # compares it with what the loader put in boot_info (QEMU: hermit.abi=).
    "NOTE_ABI_VERSION": 1,
    # The kernel's own layout for a loader that sets the cpus' registers before boot
    # (uhyve), u64 each: address and size of the per-cpu blocks, the GDT's offset in one
    # and size, the TSS's offset and size, the IDT's address and size, the system call
    # entry, STAR, FMASK, and the kernel's CS, DS and TR selectors.
    "NOTE_CPU_STATE": 2,
    # A kernel that finds a boot_info it does not understand (magic or abi_version) ends
    # with hc_exit.code = this | its own ABI version, sent the way every ABI version
    # sends it (uhyve: `rep outsl` to HC_PORT_BASE + HC_EXIT; QEMU: a frame on
    # HC_UART_PORT), so any loader can say which side to rebuild.
    "EXIT_ABI_MISMATCH": 0x4142490000000000,  # "ABI" in the top bytes
    "KERNEL_BASE": 0x200000,  # link address of the image (text segment)
    "IMAGE_OSABI": 0x42,  # ELF e_ident[EI_OSABI] of a hermit image (HermitCore's mark)
    # Cpus a guest may have: per-cpu arrays in the kernel, HERMIT_CPUS in the loaders.
    "MAX_CPUS": MAX_CPUS,
    # QEMU: real-mode page where the other cpus start after INIT/SIPI (below 1 MiB,
    # 4 KiB-aligned, in the low RAM the page allocator keeps for itself).
    "TRAMPOLINE_ADDR": 0x8000,
    "COM1_PORT": 0x3F8,  # the kernel's serial console (boot_info.uart_port when asked)
    "BOOT_GDT_ADDR": 0x1000,  # uhyve: GDT it loads before the 64-bit entry
    # uhyve: the kernel's identity map, built before boot (boot_info.page_tables): all
    # RAM in 2 MiB pages, the first 2 MiB in 4 KiB pages (BOOT_PT_ADDR) with page 0
    # absent, the LAPIC and IOAPIC uncached; the page directory of GiB g at
    # BOOT_PD_ADDR + g * 4096, up to the end of the most RAM a guest can have.
    "BOOT_PML4_ADDR": 0x2000,
    "BOOT_PDPT_ADDR": 0x3000,
    "BOOT_PT_ADDR": 0x4000,
    "BOOT_PD_ADDR": 0x10000,
    "BOOT_PD_GIBS": 68,  # HIGH_MEM_BASE + MAX_MEM: to 0x54000, in the kernel's low MiB
    "BOOT_INFO_ADDR": 0x5000,  # the boot-info block (one page)
    # The kernel's clock parameters (struct vvar, one page), read by the vDSO in the
    # application's ring 3; the kernel fills it, everyone else only reads it.
    "VVAR_ADDR": 0x6000,
    # The SDK's musl makes each system call as `call *SYSCALL_SLOT` (tools/build-musl);
    # the kernel writes the entry there before the application starts.  The last word
    # of the vvar page.
    "SYSCALL_SLOT": 0x6FF8,
    # The process's one pid: sys_getpid and the SDK's function-call getpid() return it.
    "APP_PID": 1,
    # statfs of the synthetic objects (loader) and of the kernel's devices: a small
    # read-only file system (TMPFS_MAGIC; ST_VALID | ST_RDONLY | ST_NOSUID | ST_NODEV)
    "SYNTH_FS_MAGIC": 0x01021994,
    "SYNTH_FS_FLAGS": 0x27,
    "BOOT_MAPPED_BYTES": 1 << 30,  # identity-mapped by the boot page tables
    # Guest RAM is [0, boot_info.mem_size) below the 32-bit hole (LAPIC, IOAPIC, firmware)
    # and, for large sizes, [HIGH_MEM_BASE, HIGH_MEM_BASE + boot_info.mem_high).
    "HIGH_MEM_BASE": 1 << 32,
    # The most guest RAM the loaders give (HERMIT_MEM): the kernel's page bitmaps for it
    # (3 bits per page up to the end of RAM: 6 MiB) must fit in the 8 MiB the PVH entry
    # maps beyond the image.
    "MAX_MEM": 64 << 30,
    "LOADER_UHYVE": 1,
    "LOADER_QEMU": 2,
    # uhyve: hypercall n is `rep outsl` of the 8-byte argument GPA to port base + n
    # (one exit when KVM takes both dwords at once, two when it splits them) ...
    "HC_PORT_BASE": 0x500,
    # ... or, always one exit: the kernel fills its slot of the mailbox array
    # (boot_info.hc_mailbox, struct hc_slot) and does `outl` of the slot index to
    # this base + n.
    "HC_MAILBOX_PORT_BASE": 0x600,
    "HC_MAILBOX_SLOTS": MAX_CPUS,  # one per cpu
    # QEMU: a doorbell byte DOORBELL | slot on the hypercall UART; the runner answers
    # by setting the slot's `done` to its `seq` (bytes below DOORBELL start a 10-byte
    # frame).
    "HC_DOORBELL": 0xC0,
    # QEMU: hypercall n is a 10-byte frame (u16 n, u64 GPA) on this UART, answered by one byte.
    "HC_UART_PORT": 0x2F8,
    "HC_ACK": 0x06,
    "LOG_SIZE": 1 << 16,  # kernel log ring buffer
    "MAX_FRAMES": 32,  # backtrace depth in a fault report
    # Most bytes of argv and envp (strings and pointers) the kernel places on the
    # application's 8 MiB stack; the loaders refuse more before the guest starts.
    "ARGS_MAX": 4 << 20,
    "ISATTY_STDIN": 1,  # boot_info.tty bits: which host fds are terminals
    "ISATTY_STDOUT": 2,
    "ISATTY_STDERR": 4,
    # kvm_pvm (this project's nested hosts): writing the address of a zeroed page to
    # this MSR switches the guest's supervisor code from emulation to native execution.
    "PVM_MSR_NATIVE": 0x4B564D10,
    # uhyve's NIC: two rings in guest memory (struct net_ring at the ring's GPA, then
    # NET_SLOTS slots from NET_RING_SLOTS on), rx filled by the loader, tx by the
    # kernel.  A slot is a u64 frame length, then the Ethernet frame (no FCS).
    "NET_SLOTS": 256,  # a power of two: indices are free-running u64 counters
    "NET_SLOT_SIZE": 2048,
    "NET_FRAME_MAX": 2040,  # NET_SLOT_SIZE less the length word
    "NET_RING_SLOTS": 4096,  # the slots start one page into the ring
    "NET_RING_BYTES": 4096 + 256 * 2048,
    # The system-call trace (HERMIT_STRACE): one ring of records (struct trace_ring,
    # then TRACE_RECS records of TRACE_REC_BYTES: struct trace_rec and two strings of
    # TRACE_STR bytes each), written under the kernel lock, so in completion order.
    "TRACE_REC_BYTES": 512,
    "TRACE_STR": 120,
    "TRACE_RECS": 1023,  # the ring header takes one record's room: 512 KiB in all
    "TRACE_HOSTS": 4,  # host calls kept per system call (trace_rec.h<i>_*)
    # Run statistics (HERMIT_STATS): struct hc_stat per host call, indexed by the
    # system call's number for HC_SYSCALL and STATS_HC_BASE + n for hypercall n.
    "STATS_HC_BASE": 512,
    "STATS_SLOTS": 512 + 16,
}

# QEMU: the boot_info fields the runner sets through the kernel command line, as
# `hermit.<key>=<number>` (the PVH entry fills the rest): key -> boot_info field.
CMDLINE: dict[str, str] = {
    "abi": "abi_version",
    "cpus": "cpus",
    "tsc_khz": "tsc_khz",
    "tty": "tty",
    "uart": "uart_port",
    "pvm": "pvm",
    "trace": "trace",
    "stats": "stats",
    "ip": "net_ip",
    "mask": "net_mask",
    "gw": "net_gw",
}

# Strings both sides know.
STRINGS: dict[str, str] = {
    "NOTE_NAME": "Hermit",  # owner of the image's ELF notes (NOTE_*)
    # The kernel is two members of libhermit.a (tools/mklibhermit.sh); what one defines
    # and the other names keeps global as PREFIX + its name, out of the application's
    # way.  The loader's symbolizer (crash reports, profiles) shows the name without it.
    "SHARED_SYMBOL_PREFIX": "__hermit_k_",
}

# Hypercall numbers.  Argument struct for HC_<NAME> is struct hc_<name>.
HYPERCALLS: dict[str, int] = {
    "WRITE": 1,  # write buf[len] to host fd (1 or 2); ret = bytes or -errno
    "EXIT": 2,  # the guest is done; code is the process exit status
    # argv strings then envp strings, each NUL-terminated, into buf when they fit in
    # len bytes; the counts and sizes always (one round trip at boot, a second only
    # for a huge environment).
    "ARGS": 4,
    "FAULT": 5,  # a CPU exception: registers and backtrace; the loader reports and exits
    "TIME": 6,  # host wall clock (CLOCK_REALTIME) in ns
    # A Linux file system call carried out by the loader (open, read, stat, ...):
    # number and arguments as the application passed them; ret = result or -errno.
    "SYSCALL": 8,
    # The guest no longer needs [addr, addr + len) (page-aligned, inside one RAM block):
    # the loader drops the host's pages behind it, which then read as zero and cost
    # the host nothing until touched.  ret = 0 or -errno (then the memory is unchanged).
    "DISCARD": 9,
    # The calling cpu has nothing to run and no timer to wait for (kvm_pvm): uhyve
    # blocks it until a WAKE names it or `ns` nanoseconds pass; other loaders return
    # at once (the kernel then polls).
    "IDLE": 10,
    "WAKE": 11,  # end cpu's IDLE, or make its next one return at once
    # A breakpoint (#BP) or a single step (#DB) while boot_info.debug is set: the cpu's
    # registers; the loader holds the call while its debugger looks (and may change
    # them) and the cpu goes on with the registers as they are then.
    "DEBUG": 12,
    # uhyve's NIC (struct hc_net): the kernel gives the GPAs of its two rings (each
    # NET_RING_BYTES, page-aligned, zeroed); the loader starts its network backend and
    # fills mac and mtu, ret = 0, or -ENODEV when the loader offers no NIC (QEMU: the
    # kernel probes virtio-net instead).  Called once, at the first netdev_first().
    "NET_OPEN": 13,
    # The kernel queued frames on tx while tx.wait said the loader's NIC thread
    # sleeps: wake it (the same struct hc_net; nothing is read but the call).
    "NET_KICK": 14,
    # The trace ring is full (boot_info.trace_addr): the loader reads every record
    # and moves trace_ring.tail before it answers.
    "TRACE": 15,
}

# Field lists; every field is u64 (signed values travel as two's complement).
STRUCTS: dict[str, list[str]] = {
    # Filled by the loader (uhyve) or by the PVH entry from QEMU's start info;
    # the kernel adds the log location and boot timestamps.
    "boot_info": [
        "magic",
        "abi_version",
        "loader",  # LOADER_*
        "mem_size",  # bytes of guest RAM starting at GPA 0 (below the 32-bit hole)
        "cpus",
        "tsc_khz",
        "tty",  # ISATTY_* bits
        "uart_port",  # 0: no kernel messages on a UART
        "log_addr",  # kernel: GPA of the log ring buffer (LOG_SIZE bytes)
        "log_head",  # kernel: bytes written so far (mod LOG_SIZE is the next slot)
        "tsc_entry",  # kernel: TSC at the first kernel instruction
        "tsc_main",  # kernel: TSC just before the application starts
        "cmdline_addr",  # QEMU: kernel command line copied by the PVH entry
        "cmdline_len",
        "pvm",  # 1: the host's KVM is kvm_pvm; the kernel asks it for native execution
        "hc_mailbox",  # kernel: GPA of u64[HC_MAILBOX_SLOTS], hypercall arguments by cpu
        "mem_high",  # bytes of guest RAM starting at HIGH_MEM_BASE (0: none)
        # uhyve on kvm_pvm, which delivers no interrupts: 1 when the loader offers to
        # deliver timer and kick events itself (struct hc_event).
        "loader_events",
        "hc_events",  # kernel: GPA of struct hc_event[MAX_CPUS] (0: none wanted)
        "event_entry",  # kernel: where the loader sends a cpu in user mode (ring 3 code)
        # kernel: [entry_start, entry_end) holds every way into and out of the kernel;
        # outside it a cpu runs the application exactly when its hc_event.in_user
        # word says 1 (the loader cannot tell the modes apart itself on kvm_pvm).
        "entry_start",
        "entry_end",
        # uhyve: GPA of a struct hc_args it filled before boot, its strings at `buf`
        # right after it, all in the first BOOT_MAPPED_BYTES: the kernel keeps those
        # pages until it copied them (0: the kernel asks with HC_ARGS, as under QEMU).
        "args",
        # nonzero while a loader thread polls the mailbox (poller.py); the kernel then
        # puts an HC_SYSCALL in its slot without ringing (uhyve's `outl`, QEMU's
        # doorbell) and waits for `done`.  The kernel stores seq, fences, then reads
        # this; the poller clears it, fences, then looks at the slots once more: one
        # sees the other.
        "hc_poll",
        # uhyve: 1 while its GDB server (HERMIT_DEBUG=1) is attached: breakpoints and
        # single steps go to it (HC_DEBUG) instead of ending the guest.
        "debug",
        # HERMIT_STRACE: the loader sets `trace` to 1; the kernel then records each
        # system call of the application in the ring at `trace_addr` (its GPA).
        "trace",
        "trace_addr",
        # HERMIT_STATS: the loader sets `stats` to 1; the kernel then counts host calls
        # in struct hc_stat[STATS_SLOTS] at `stats_addr` and keeps the most pages of
        # RAM it had in use at once in `pages_peak`.
        "stats",
        "stats_addr",
        "pages_peak",
        # HERMIT_NETIF (a tap device): the guest's static IPv4 address, netmask and
        # gateway, each its 4 bytes in network order read as a little-endian number;
        # net_ip 0: ask DHCP (the user-mode network).
        "net_ip",
        "net_mask",
        "net_gw",
        # uhyve: GPA of the PML4 of the identity map the kernel would build itself
        # (BOOT_PML4_ADDR), which every vCPU starts on: the kernel keeps it; writing
        # another to CR3 would drop what kvm_pvm's shadow paging learnt so far (a trap
        # of ~30 us for every page touched again).  0: the kernel builds its own.
        "page_tables",
        # uhyve: 1 when it loaded each cpu's CR0, CR4 (PAE, OSFXSR, OSXMMEXCPT), EFER,
        # segment registers, GDTR, IDTR, TR and the syscall and GS MSRs as the kernel
        # would (from the image's NOTE_CPU_STATE): the kernel then fills the tables in
        # memory and sets only what its CPUID decides (CR4's other bits, XCR0).
        "cpu_ready",
    ],
    "hc_write": ["fd", "buf", "len", "ret"],
    "hc_exit": ["code"],
    "hc_args": ["buf", "len", "argc", "argv_bytes", "envc", "env_bytes"],
    # regs in the order of FAULT_REGS; frames are return addresses, outermost last.
    # in_app: 1 when the cpu ran the application (its privilege may be the kernel's).
    "hc_fault": ["vector", "error", "cr2", "nframes", "in_app"]
    + ["r_" + r for r in ("rip", "rsp", "rbp", "rflags", "rax", "rbx", "rcx", "rdx",
                          "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14",
                          "r15", "cs", "ss", "fs_base", "cr3")]
    + [f"frame{i}" for i in range(CONSTANTS["MAX_FRAMES"])],
    "hc_time": ["ns"],
    # vector: 1 (#DB) or 3 (#BP, rip after the int3); in_app as in hc_fault; the
    # registers in GDB's amd64 order.  The loader may change the general registers,
    # rip and rflags' arithmetic flags, TF and RF.
    "hc_debug": ["vector", "in_app", "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp",
                 "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip",
                 "rflags", "cs", "ss"],
    # node (out): an open/openat that names a kernel device (DEVICES) gets its id
    # here and ret 0; every other call leaves it 0.
    "hc_syscall": ["nr", "a0", "a1", "a2", "a3", "a4", "a5", "ret", "node"],
    # One per cpu in the mailbox.  The kernel writes gpa, nr, then seq (one more than
    # the slot's last); a loader serves a slot whose seq differs from done and then
    # sets done = seq.  kvm_pvm now and then performs one port write twice: a repeated
    # doorbell finds the call answered, and a late answer never matches a newer seq.
    "hc_slot": ["gpa", "nr", "seq", "done"],
    # Per cpu, for loader_events.  The kernel sets `due` (a guest TSC value, 0: none)
    # for its own timer and others set `kick` for it (a signal, a task to run).
    # When one is due while the cpu runs the application, the loader saves rip,
    # rflags, rax, rcx and r11 here, sets `taken` and moves rip to event_entry,
    # which enters the kernel (SYS_EVENT) like an interrupt would.
    # in_user (kernel): the GPA of the cpu's word that says it runs the application.
    "hc_event": ["due", "kick", "taken", "rip", "rflags", "rax", "rcx", "r11", "in_user"],
    "hc_idle": ["ns"],
    "hc_wake": ["cpu"],
    "hc_discard": ["addr", "len", "ret"],
    # mac: the six bytes of the NIC's address in the low bytes (byte 0 first), mtu: the
    # IP MTU.  rx and tx: GPAs of the rings.
    "hc_net": ["rx", "tx", "mac", "mtu", "ret"],
    # One ring, one producer and one consumer: head counts the frames put in (by the
    # producer), tail the frames taken (by the consumer); slot i % NET_SLOTS.  The
    # producer fills the slot before it stores head; the consumer reads it before it
    # stores tail.  wait: the consumer may sleep, so the producer wakes it (tx: the
    # kernel sends HC_NET_KICK; rx: the loader ends the cpus' HC_IDLE) and clears it.
    # The consumer sets wait, fences, and looks at head once more before it sleeps.
    "net_ring": ["head", "tail", "wait"],
    # At VVAR_ADDR.  monotonic ns = (tsc - tsc_base) * ns_mult >> 32 (one formula for the
    # kernel and the vDSO: <hermit/clock.h>); realtime ns = realtime_base + monotonic ns,
    # realtime_base 0 until the kernel first asked the host for the wall clock.
    # next_wake_tsc: the TSC at which the earliest sleeping thread is due (all ones:
    # none); the SDK's sched_yield enters the kernel from then on.
    "hc_trace": ["unused"],
    # head (kernel): records written; tail (loader): records read; the kernel writes
    # record head % TRACE_RECS when head - tail < TRACE_RECS, else asks HC_TRACE.
    "trace_ring": ["head", "tail"],
    # One system call: TSC at entry and at return, the thread, arguments and result;
    # done 0: it did not return (exit).  len0/len1: bytes of the strings after the
    # struct (a path or the data written at entry, the data read at return); trunc
    # bit i: string i was longer, bit 2 + i: it could not be read.  h<i>: the host
    # calls it made (nr, result, TSC ticks, 1 when it took a VM exit or doorbell),
    # nhost of them (more are counted, not kept).  writev/pwritev: the strings are the
    # data of the first two iovecs, iov<i>_len their lengths.
    "trace_rec": ["tsc", "tsc_done", "tid", "nr", "a0", "a1", "a2", "a3", "a4",
                  "a5", "ret", "done", "len0", "len1", "trunc", "nhost", "iov0_len", "iov1_len"]
    + [f"h{i}_{f}" for i in range(CONSTANTS["TRACE_HOSTS"])
       for f in ("nr", "ret", "ticks", "rang")],
    # Per host call kind: calls, TSC ticks from the request to the answer, and how many
    # took a VM exit or a doorbell (the rest the loader's poller served without one).
    "hc_stat": ["count", "ticks", "rang"],
    "vvar": ["tsc_base", "ns_mult", "realtime_base", "next_wake_tsc"],
}

# System calls the kernel forwards to the loader (HC_SYSCALL): name -> (x86_64 number,
# indices of the arguments that are file descriptors).  The kernel replaces each such
# argument by the loader's handle for that fd (AT_FDCWD passes unchanged); the file
# service (hermit_build/hostfs) implements exactly these.  dup, dup2, dup3 and fcntl's
# F_DUPFD(_CLOEXEC), F_GETFD, F_SETFD are the kernel's alone (kernel/fd.c); it sends
# close(handle) when the last guest fd of a host file is gone.
FORWARDED: dict[str, tuple[int, tuple[int, ...]]] = {
    "read": (0, (0,)), "write": (1, (0,)), "open": (2, ()), "close": (3, (0,)),
    "stat": (4, ()), "fstat": (5, (0,)), "lstat": (6, ()), "lseek": (8, (0,)),
    "ioctl": (16, (0,)), "pread64": (17, (0,)), "pwrite64": (18, (0,)),
    "readv": (19, (0,)), "writev": (20, (0,)), "access": (21, ()),
    "fcntl": (72, (0,)), "flock": (73, (0,)), "fsync": (74, (0,)), "fdatasync": (75, (0,)),
    "truncate": (76, ()), "ftruncate": (77, (0,)), "getcwd": (79, ()), "chdir": (80, ()),
    "fchdir": (81, (0,)), "rename": (82, ()), "mkdir": (83, ()), "rmdir": (84, ()),
    "link": (86, ()), "unlink": (87, ()), "symlink": (88, ()), "readlink": (89, ()),
    "chmod": (90, ()), "fchmod": (91, (0,)), "chown": (92, ()), "fchown": (93, (0,)),
    "lchown": (94, ()), "fchownat": (260, (0,)), "getdents64": (217, (0,)),
    "openat": (257, (0,)), "mkdirat": (258, (0,)), "newfstatat": (262, (0,)),
    "unlinkat": (263, (0,)), "renameat": (264, (0, 2)), "linkat": (265, (0, 2)),
    "symlinkat": (266, (1,)), "readlinkat": (267, (0,)), "fchmodat": (268, (0,)),
    "faccessat": (269, (0,)), "utimensat": (280, (0,)), "preadv": (295, (0,)),
    "pwritev": (296, (0,)), "renameat2": (316, (0, 2)), "faccessat2": (439, (0,)),
    "statfs": (137, ()), "fstatfs": (138, (0,)),
    # The kernel's own use (kernel/poll_host.c; the guest's poll is the kernel's):
    # its pollfd array's fds are handles, at most 64; timeout in ms.
    "poll": (7, ()),
}

# Files the kernel serves itself, without the host: guest path -> (node id, major, minor).
DEVICES: dict[str, tuple[int, int, int]] = {
    "/dev/null": (1, 1, 3),
    "/dev/zero": (2, 1, 5),
    "/dev/full": (3, 1, 7),
    "/dev/random": (4, 1, 8),
    "/dev/urandom": (5, 1, 9),
}

# Exception vectors by number, for fault reports.
EXCEPTIONS: dict[int, tuple[str, str]] = {
    0: ("#DE", "divide error"),
    1: ("#DB", "debug"),
    2: ("NMI", "non-maskable interrupt"),
    3: ("#BP", "breakpoint"),
    4: ("#OF", "overflow"),
    5: ("#BR", "bound range exceeded"),
    6: ("#UD", "invalid opcode"),
    7: ("#NM", "device not available"),
    8: ("#DF", "double fault"),
    10: ("#TS", "invalid TSS"),
    11: ("#NP", "segment not present"),
    12: ("#SS", "stack-segment fault"),
    13: ("#GP", "general protection fault"),
    14: ("#PF", "page fault"),
    16: ("#MF", "x87 floating-point error"),
    17: ("#AC", "alignment check"),
    18: ("#MC", "machine check"),
    19: ("#XM", "SIMD floating-point exception"),
    20: ("#VE", "virtualization exception"),
    21: ("#CP", "control protection"),
}
