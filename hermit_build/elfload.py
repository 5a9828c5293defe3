"""Read a hermit image's ELF and program headers with `struct` (boot path: no pyelftools)."""

import struct

from .abi import C
from .abi.spec import STRINGS
from .errors import AbiMismatch, HermitError

ELFOSABI_HERMIT = C.IMAGE_OSABI
EM_X86_64 = 62
PT_LOAD = 1
PT_NOTE = 4

_EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
_PHDR = struct.Struct("<IIQQQQQQ")
_NHDR = struct.Struct("<III")
_NOTE_NAME = STRINGS["NOTE_NAME"].encode() + b"\0"


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


def abi_note(data: bytes, off: int, size: int) -> int | None:
    """The loader ABI version in the notes at data[off:off+size], None without one."""
    end = min(off + size, len(data))
    while off + _NHDR.size <= end:
        namesz, descsz, ntype = _NHDR.unpack_from(data, off)
        name = off + _NHDR.size
        desc = name + (namesz + 3 & ~3)
        if desc + descsz > end:
            return None  # malformed: what the loader does not understand it does not check
        if (ntype == C.NOTE_ABI_VERSION and descsz == 4
                and data[name : name + namesz] == _NOTE_NAME):
            return int.from_bytes(data[desc : desc + 4], "little")
        off = desc + (descsz + 3 & ~3)
    return None


def _check_abi_note(data: bytes, off: int, size: int, path: str) -> None:
    version = abi_note(data, off, size)
    if version is not None and version != C.ABI_VERSION:
        raise AbiMismatch(version, C.ABI_VERSION, path)


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
            f"{path}: not a hermit image (ELF OSABI {ident[7]:#x}, expected {ELFOSABI_HERMIT:#x}); "
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
        if ptype == PT_NOTE:
            _check_abi_note(data, off, filesz, path)
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
