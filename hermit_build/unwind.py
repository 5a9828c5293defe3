"""Unwind a faulted guest's stack on the host: DWARF CFI from the image's .eh_frame
(pyelftools), reading the stack in guest memory; frame pointers where there is no CFI.

Leaf functions built with -O2 set up no frame, so the kernel's own frame-pointer
walk misses their caller; the call-frame information does not.
"""

import bisect

from .guestmem import GuestFault, GuestMemory

RSP, RBP, RA = 7, 6, 16  # DWARF register numbers on x86_64


def _share_structs() -> None:
    """pyelftools (0.29, Debian 12) builds a new DWARFStructs, ~5 ms of parser objects,
    for every CIE and FDE it reads, though they differ only in their format: one per
    format serves them all (read-only), and a table of 400 entries then takes
    ~0.2 s instead of ~2 s (crash reports and the profiler wait for it)."""
    from elftools.dwarf import callframe

    made = callframe.DWARFStructs
    if getattr(made, "hermit_shared", False):
        return
    cache: dict = {}

    def shared(little_endian, dwarf_format, address_size, dwarf_version=2):
        key = (little_endian, dwarf_format, address_size, dwarf_version)
        if key not in cache:
            cache[key] = made(little_endian=little_endian, dwarf_format=dwarf_format,
                              address_size=address_size, dwarf_version=dwarf_version)
        return cache[key]

    shared.hermit_shared = True
    callframe.DWARFStructs = shared


class CfiTable:
    def __init__(self, elf):
        _share_structs()
        self.starts: list[int] = []
        self.rows: dict[int, dict | None] = {}  # pc -> its row, as found
        self.fdes: list[tuple[int, int, object]] = []
        dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
        if not dwarf.has_EH_CFI():
            return
        fdes = []
        for entry in dwarf.EH_CFI_entries():
            header = getattr(entry, "header", None)
            if header is None or "initial_location" not in header:
                continue  # a CIE or the terminator
            fdes.append((header["initial_location"], header["address_range"], entry))
        fdes.sort(key=lambda f: f[0])
        self.fdes = fdes
        self.starts = [f[0] for f in fdes]

    def row(self, pc: int) -> dict | None:
        if pc in self.rows:
            return self.rows[pc]
        found = self.rows[pc] = self._row(pc)
        return found

    def _row(self, pc: int) -> dict | None:
        i = bisect.bisect_right(self.starts, pc) - 1
        if i < 0:
            return None
        start, size, fde = self.fdes[i]
        if pc >= start + size:
            return None
        best = None
        for r in fde.get_decoded().table:
            if r["pc"] <= pc:
                best = r
        return best


def _rule_value(rule, cfa: int, mem: GuestMemory) -> int | None:
    if rule is None or getattr(rule, "type", None) != "OFFSET":
        return None
    return mem.read_u64(cfa + rule.arg)


def backtrace(elf, regs: dict[str, int], mem: GuestMemory, limit: int) -> list[int]:
    """Return addresses from the faulting rip outwards."""
    return unwind(CfiTable(elf), regs, mem, limit)


def unwind(cfi: CfiTable | None, regs: dict[str, int], mem, limit: int) -> list[int]:
    """Return addresses from regs' rip outwards, with a table made once (the profiler
    unwinds thousands of stacks); `mem` needs only read_u64."""
    pc, rsp, rbp = regs["rip"], regs["rsp"], regs["rbp"]
    frames = [pc]
    try:
        while len(frames) < limit:
            # A return address points after the call: look up the call itself.
            row = cfi.row(pc if len(frames) == 1 else pc - 1) if cfi is not None else None
            if row is not None and row["cfa"].reg in (RSP, RBP) and row["cfa"].expr is None:
                cfa = (rsp if row["cfa"].reg == RSP else rbp) + row["cfa"].offset
                ra = _rule_value(row.get(RA), cfa, mem)
                saved_rbp = _rule_value(row.get(RBP), cfa, mem)
                rbp = saved_rbp if saved_rbp is not None else rbp
                rsp = cfa
            else:
                if not rbp or rbp & 7:
                    break
                ra, rbp, rsp = mem.read_u64(rbp + 8), mem.read_u64(rbp), rbp + 16
            if not ra:
                break
            frames.append(ra)
            pc = ra
    except GuestFault:
        pass
    return frames
