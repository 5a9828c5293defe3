"""Symbols of a hermit image through pyelftools (slow to import: never on the boot path)."""

import bisect
import os

from .abi.spec import STRINGS
from .lazy import enable_site

# the kernel's names shared between its members of libhermit.a, shown as in its source
SHARED = STRINGS["SHARED_SYMBOL_PREFIX"]

IN_MEMORY = 64 << 20  # images up to this size are read at once; larger ones (a sparse
# file of gigabytes) piece by piece, so a crash report never reads a whole huge file


class Symbolizer:
    """Maps addresses to `function+offset` using the image's symbol table."""

    def __init__(self, path: str):
        enable_site()
        import io

        from elftools.elf.elffile import ELFFile

        file = open(path, "rb")  # noqa: SIM115 (a large image stays open, read as needed)
        if os.fstat(file.fileno()).st_size <= IN_MEMORY:
            with file:
                data = file.read()
            file = io.BytesIO(data)
        self.elf = ELFFile(file)
        symtab = self.elf.get_section_by_name(".symtab")
        syms = []
        if symtab is not None and symtab["sh_size"] <= IN_MEMORY:
            for s in symtab.iter_symbols():
                if s["st_info"]["type"] == "STT_FUNC" and s["st_value"] and s.name:
                    syms.append((s["st_value"], s["st_size"], s.name.removeprefix(SHARED)))
        syms.sort()
        self.entries = syms
        self.starts = [s[0] for s in syms]

    def backtrace(self, regs: dict[str, int], mem, limit: int) -> list[int] | None:
        """Unwind with the image's call-frame information (None if that fails)."""
        from .unwind import backtrace

        try:
            return backtrace(self.elf, regs, mem, limit)
        except Exception:  # malformed CFI: fall back to the kernel's frame-pointer walk
            return None

    def lookup(self, addr: int) -> str | None:
        i = bisect.bisect_right(self.starts, addr) - 1
        if i < 0:
            return None
        start, size, name = self.entries[i]
        if size and addr >= start + size:
            return None
        return f"{name}+{addr - start:#x}"


def symbolizer(path: str | None) -> Symbolizer | None:
    """A Symbolizer, or None when the image or pyelftools is unavailable."""
    if not path:
        return None
    try:
        return Symbolizer(path)
    except (ImportError, OSError, Exception):  # a corrupt symtab must not hide the crash report
        return None
