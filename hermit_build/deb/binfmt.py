"""Run hermit images directly: register the proxy with the kernel's binfmt_misc.

HermitCore marked its images with ELF OSABI 0x42 and let binfmt_misc hand them to
the proxy, so `./hello` just ran. The rule matches an x86-64 little-endian ELF
executable with that OSABI (the ABI version and padding bytes are masked out).
The hermit-binfmt package installs the same rule in /usr/lib/binfmt.d.
"""

import os
import subprocess
from pathlib import Path

from ..abi import C
from ..errors import HermitError

NAME = "hermit"
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
# e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, hermit's OSABI, 8 masked bytes;
# then e_type = ET_EXEC and e_machine = EM_X86_64 (little-endian u16 each).
MAGIC = b"\x7fELF\x02\x01\x01" + bytes((C.IMAGE_OSABI,)) + bytes(8) + b"\x02\x00\x3e\x00"
MASK = b"\xff" * 8 + bytes(8) + b"\xff" * 4


class BinfmtError(HermitError):
    """binfmt_misc is not there, not writable, or the interpreter is unusable."""


def _escape(data: bytes) -> str:
    return "".join(f"\\x{b:02x}" for b in data)


def rule(interpreter: str) -> str:
    """The line to write to binfmt_misc's register file (and to a binfmt.d file)."""
    if not os.path.isabs(interpreter) or ":" in interpreter:
        raise BinfmtError(f"the interpreter must be an absolute path without ':': {interpreter}")
    return f":{NAME}:M:0:{_escape(MAGIC)}:{_escape(MASK)}:{interpreter}:"


def matches(header: bytes) -> bool:
    """Whether binfmt_misc would hand a file starting with `header` to the proxy."""
    if len(header) < len(MAGIC):
        return False
    return all((h & m) == (g & m) for h, m, g in zip(header, MASK, MAGIC, strict=False))


def status(directory: Path = BINFMT_DIR) -> dict[str, str] | None:
    """The registered entry (enabled, interpreter, flags, ...) or None."""
    entry = directory / NAME
    try:
        lines = entry.read_text().splitlines()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise BinfmtError(f"cannot read {entry}: {e.strerror}") from None
    info = {"state": lines[0] if lines else ""}
    for line in lines[1:]:
        key, _, value = line.partition(" ")
        info[key.rstrip(":")] = value.strip()
    return info


def _ensure_mounted(directory: Path) -> None:
    if (directory / "register").exists():
        return
    r = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(directory)],
                       capture_output=True, text=True)
    if r.returncode != 0 or not (directory / "register").exists():
        why = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "no register file"
        raise BinfmtError(f"binfmt_misc is not available ({why}); "
                          "it needs root and a kernel with binfmt_misc")


def _write(path: Path, text: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(text)
    except PermissionError:
        raise BinfmtError(f"no permission to write {path}; run as root (sudo)") from None
    except OSError as e:
        raise BinfmtError(f"writing {path} failed: {e.strerror}") from None


def register(interpreter: str, directory: Path = BINFMT_DIR) -> str:
    """Register (or re-register) the proxy; return the rule written."""
    if not os.access(interpreter, os.X_OK):
        raise BinfmtError(f"{interpreter} is not an executable proxy")
    line = rule(interpreter)
    _ensure_mounted(directory)
    if (directory / NAME).exists():
        _write(directory / NAME, "-1")
    _write(directory / "register", line)
    return line


def unregister(directory: Path = BINFMT_DIR) -> bool:
    """Remove the entry; False when there was none."""
    if not (directory / NAME).exists():
        return False
    _write(directory / NAME, "-1")
    return True
