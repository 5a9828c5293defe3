"""HERMIT_STATS: what a run cost, printed when the guest is done.

The kernel counts host calls (kernel/stats.c: calls, time from request to answer,
how many took a VM exit or doorbell) and the most RAM it had in use; the loader
adds what it saw itself (its own timings, uhyve's VM exits) and which pages of
guest RAM the host had to back (mincore on its mapping).
"""

import sys

from .abi import HC_NAMES, C, S
from .guestmem import PAGE, GuestFault, GuestMemory
from .kernlog import boot_info
from .sysnames import name as call_name

MIB = 1 << 20
KVM_EXITS = {2: "io", 3: "hypercall", 4: "debug", 5: "hlt", 6: "mmio", 8: "shutdown",
             9: "fail_entry", 10: "intr", 17: "internal_error"}


def pages_touched(mem: GuestMemory) -> int | None:
    """Pages of guest RAM the host backs (every page the guest ever wrote or read,
    less what it gave back with DISCARD), or None when mincore is not there."""
    import ctypes  # here, not at the top: open_output() runs before the first instruction
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    total = 0
    for _, size, buf, off in mem.regions:
        export = ctypes.c_char.from_buffer(buf)
        base = ctypes.addressof(export)
        del export  # the mapping stays; the loader closes it later
        start = (base + off) & ~(PAGE - 1)
        length = base + off + size - start
        vec = (ctypes.c_ubyte * ((length + PAGE - 1) // PAGE))()
        if libc.mincore(ctypes.c_void_p(start), ctypes.c_size_t(length), vec) != 0:
            return None
        total += sum(b & 1 for b in bytes(vec))
    return total


def host_calls(mem: GuestMemory, addr: int) -> list[tuple[str, int, int, int]]:
    """(name, calls, TSC ticks, calls with an exit or doorbell) for each kind used."""
    try:
        raw = mem.read(addr, S.hc_stat.size * C.STATS_SLOTS)
    except GuestFault:
        return []
    out = []
    for i in range(C.STATS_SLOTS):
        s = S.hc_stat.unpack(raw[i * S.hc_stat.size : (i + 1) * S.hc_stat.size])
        if not s["count"]:
            continue
        hc = i - C.STATS_HC_BASE
        label = call_name(i) if hc < 0 else "hypercall " + HC_NAMES.get(hc, str(hc)).lower()
        out.append((label, s["count"], s["ticks"], min(s["rang"], s["count"])))
    return out


def exit_kinds(exits: dict) -> list[tuple[str, int]]:
    """uhyve's VM exits, {(KVM exit reason, port): count}, as (kind, count), commonest first."""
    named: dict[str, int] = {}
    for (reason, port), n in exits.items():
        if reason == "signal":
            kind = "signal (KVM_RUN interrupted: events, kicks, the poller)"
        elif reason == 2:
            hc = port - C.HC_MAILBOX_PORT_BASE if port >= C.HC_MAILBOX_PORT_BASE else (
                port - C.HC_PORT_BASE)
            kind = f"io {HC_NAMES[hc].lower()}" if 0 < hc < 256 and hc in HC_NAMES else (
                f"io port {port:#x}")
        else:
            kind = KVM_EXITS.get(reason, f"reason {reason}")
        named[kind] = named.get(kind, 0) + n
    return sorted(named.items(), key=lambda kv: -kv[1])


def lines(mem: GuestMemory, loader: str, facts: dict) -> list[str]:
    info = boot_info(mem) or {}
    khz = info.get("tsc_khz") or 0
    out = [f"hermit stats ({loader}, {info.get('cpus', '?')} cpu(s))"]
    if "first_run_ms" in facts:
        out.append(f"  first instruction   {facts['first_run_ms']:.3f} ms after the loader "
                   "started the run (the first KVM_RUN)")
    else:
        out.append("  first instruction   not known: QEMU starts the guest itself")
    if info.get("tsc_main") and khz:
        us = (info["tsc_main"] - info["tsc_entry"]) * 1000 / khz
        out.append(f"  main                {us / 1000:.3f} ms after the first instruction")
    if "run_ms" in facts:
        out.append(f"  run time            {facts['run_ms']:.3f} ms ({facts['run_what']})")
    if facts.get("exits") is not None:
        kinds = exit_kinds(facts["exits"])
        total = sum(n for _, n in kinds)
        out.append(f"  VM exits            {total}" + (": " if kinds else "") +
                   ", ".join(f"{k} {n}" for k, n in kinds))
    else:
        out.append("  VM exits            not known under QEMU (its doorbells are below)")
    ring = facts.get("ring", "VM exit")
    calls = host_calls(mem, info["stats_addr"]) if info.get("stats_addr") else []
    n = sum(c for _, c, _, _ in calls)
    rang = sum(r for _, _, _, r in calls)
    ms = sum(t for _, _, t, _ in calls) / khz if khz else 0.0
    out.append(f"  host calls          {n} in {ms:.3f} ms: {rang} with a {ring}, "
               f"{n - rang} served by the poller without one")
    for label, c, ticks, r in sorted(calls, key=lambda x: -x[2]):
        t = ticks / khz if khz else 0.0
        out.append(f"    {label:<22} {c:>8} {t:>10.3f} ms  {ring} {r}  poller {c - r}")
    touched = facts.get("touched")
    if touched is not None:
        out.append(f"  pages touched       {touched} ({touched * PAGE / MIB:.1f} MiB of guest RAM "
                   "the host backs at exit)")
    if info.get("pages_peak"):
        peak = info["pages_peak"]
        out.append(f"  peak guest memory   {peak * PAGE / MIB:.1f} MiB ({peak} pages in use "
                   "at once: kernel, image, stacks, heap and mappings)")
    return out


def open_output(dest: str):
    """HERMIT_STATS's file, opened before the loader confines itself; None: stderr."""
    return None if dest == "-" else open(dest, "w", encoding="utf-8")  # noqa: SIM115


def report(out, mem: GuestMemory, loader: str, facts: dict) -> None:
    """Write the statistics to `out` (open_output's) or stderr; a failure is one line."""
    facts = dict(facts)
    try:
        facts["touched"] = pages_touched(mem)
    except (OSError, AttributeError, TypeError, ValueError):
        facts["touched"] = None
    text = "\n".join(lines(mem, loader, facts)) + "\n"
    stream = out or sys.stderr
    try:
        stream.write(text)
        stream.flush()
    except OSError as e:
        sys.stderr.write(f"hermit: cannot write the statistics: {e.strerror}\n")
    finally:
        if out is not None:
            out.close()
