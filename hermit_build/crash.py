"""Report a guest CPU exception: what happened, the registers, a symbolized backtrace."""

from .abi import EXCEPTIONS, C
from .elf import symbolizer
from .errors import say

# Exit status like a Linux process killed by the matching signal (128 + signo).
_SIGNAL = {0: 8, 16: 8, 19: 8, 6: 4, 17: 7, 1: 5, 3: 5}
_REGS = ["rip", "rsp", "rbp", "rflags", "rax", "rbx", "rcx", "rdx", "rsi", "rdi",
         "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "cs", "ss", "fs_base", "cr3"]


def describe(fault: dict[str, int]) -> str:
    vec = fault["vector"]
    mnemonic, name = EXCEPTIONS.get(vec, (f"#{vec}", f"exception {vec}"))
    text = f"{name} ({mnemonic})"
    if vec == 14:
        addr, err = fault["cr2"], fault["error"]
        access = "write" if err & 2 else "instruction fetch" if err & 16 else "read"
        text += f": {access} at address {addr:#x}"
        if addr < 0x1000:
            text += " (null pointer dereference)"
        elif abs(addr - fault["r_rsp"]) < 0x10000:
            text += " (stack overflow: the stack ran into its guard page)"
    elif vec in (10, 11, 12, 13) and fault["error"]:
        text += f", error code {fault['error']:#x}"
    return text


def exit_status(vector: int) -> int:
    return 128 + _SIGNAL.get(vector, 11)


def frames(fault: dict[str, int], sym, mem) -> list[int]:
    """Host-side CFI unwinding when possible, else the kernel's frame-pointer walk."""
    if sym is not None and mem is not None:
        regs = {r: fault["r_" + r] for r in ("rip", "rsp", "rbp")}
        found = sym.backtrace(regs, mem, C.MAX_FRAMES)
        if found:
            return found
    return [fault[f"frame{i}"] for i in range(min(fault["nframes"], C.MAX_FRAMES))]


def where(sym, addr: int) -> str:
    """An address, with `function+offset` when the Symbolizer knows it."""
    name = sym.lookup(addr) if sym else None
    return f"{addr:#018x} {name}" if name else f"{addr:#018x}"


def _details(sym, rip: int, values: list[tuple[str, int]], trace: list[int] | None) -> list[str]:
    """Where it stopped, the registers three to a line, and the backtrace."""
    lines = [f"  at {where(sym, rip)}"]
    regs = [f"{name:>7} {value:#018x}" for name, value in values]
    for i in range(0, len(regs), 3):
        lines.append("  " + "  ".join(regs[i : i + 3]))
    if trace:
        lines.append("backtrace:")
        lines += [f"  #{i:<2} {where(sym, addr)}" for i, addr in enumerate(trace)]
    return lines


def report(fault: dict[str, int], image: str | None, mem=None, out=None) -> int:
    """Print the fault report to stderr; return the exit status for the proxy."""
    sym = symbolizer(image)
    values = [(r, fault["r_" + r]) for r in _REGS]
    whose = "in the application" if fault["in_app"] else "in the kernel"
    lines = [f"hermit: guest crashed {whose}: {describe(fault)}",
             *_details(sym, fault["r_rip"], values, frames(fault, sym, mem))]
    say("\n".join(lines), out)  # a full disk loses the report, not the status
    return exit_status(fault["vector"])


def cpu_state(regs: dict[str, int], image: str | None, mem=None, out=None) -> None:
    """What a vCPU held when it stopped without a report (a triple fault): the
    registers, and a backtrace unwound from them where the image's CFI allows."""
    sym = symbolizer(image)
    values = [(r, regs[r]) for r in [*_REGS, "cr2"] if r in regs]
    trace = sym.backtrace(regs, mem, C.MAX_FRAMES) if sym is not None and mem is not None else None
    say("\n".join(_details(sym, regs["rip"], values, trace)), out)
