"""Read a hermit image's ELF and program headers with `struct` (boot path: no pyelftools)."""

import struct

from .abi import C
from .errors import HermitError

ELFOSABI_HERMIT = 0x42
EM_X86_64 = 62
PT_LOAD = 1
PT_NOTE = 4

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")


class ImageError(HermitError):
    """The file is not a hermit image; the message says why."""


class Segment:
    """A PT_LOAD segment.  Plain classes here: `typing`/`dataclasses` cost ~10 ms at start-up."""

    __slots__ = ("offset", "vaddr", "paddr", "filesz", "memsz")

    def __init__(self, offset: int, vaddr: int, paddr: int, filesz: int, memsz: int):
        self.offset, self.vaddr, self.paddr = offset, vaddr, paddr
        self.filesz, self.memsz = filesz, memsz


class Image:
    __slots__ = ("path", "entry", "segments", "data")

    def __init__(self, path: str, entry: int, segments: list[Segment], data: bytes):
        self.path, self.entry, self.segments, self.data = path, entry, segments, data

    @property
    def end(self) -> int:
        return max(s.paddr + s.memsz for s in self.segments)


def load(path: str) -> Image:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory") from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    if len(data) < _EHDR.size or data[:4] != b"\x7fELF":
        raise ImageError(f"{path}: not an ELF file")
    (ident, etype, machine, _v, entry, phoff, _sh, _fl, _eh, phentsize, phnum,
     *_rest) = _EHDR.unpack_from(data)
    if ident[4] != 2 or ident[5] != 1 or machine != EM_X86_64:
        raise ImageError(f"{path}: not an x86_64 ELF image (hermit runs x86_64 unikernels only)")
    if ident[7] != ELFOSABI_HERMIT:
        raise ImageError(
            f"{path}: not a hermit image (ELF OSABI {ident[7]:#x}, expected 0x42); "
            "build it with x86_64-hermit-gcc"
        )
    if etype != 2:
        raise ImageError(f"{path}: not an executable (ELF type {etype})")
    if phentsize != _PHDR.size or phoff + phnum * phentsize > len(data):
        raise ImageError(f"{path}: corrupt ELF program headers")
    segments = []
    for i in range(phnum):
        ptype, _flags, off, vaddr, paddr, filesz, memsz, _align = _PHDR.unpack_from(
            data, phoff + i * phentsize
        )
        if ptype != PT_LOAD or memsz == 0:
            continue
        if off + filesz > len(data) or filesz > memsz:
            raise ImageError(f"{path}: corrupt ELF segment {i} (truncated file?)")
        if paddr < C.KERNEL_BASE:
            raise ImageError(f"{path}: segment {i} at {paddr:#x} below the kernel base")
        segments.append(Segment(off, vaddr, paddr, filesz, memsz))
    if not segments:
        raise ImageError(f"{path}: no loadable segments")
    return Image(path, entry, segments, data)
