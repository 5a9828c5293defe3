"""Fuzz the image loader: mutations of the real `hello` (ELF header, program headers,
the PVH note, truncations) from a fixed seed, each run under a short HERMIT_TIMEOUT.

Every case must end in one of: a one-line error, a guest crash report, a normal run or
the timeout's 124 — never a traceback and never a loader that does not end.
"""

import collections
import os
import random
import struct
import subprocess
import time

import pytest
from conftest import KVM, NO_KVM, clean_env

SEED = int(os.environ.get("HERMIT_FUZZ_SEED", "20261203"))
# per loader; HERMIT_FUZZ_CASES=1000 (and HERMIT_FUZZ_SEED) for a longer search
CASES = int(os.environ.get("HERMIT_FUZZ_CASES", "100"))
TIMEOUT = 2  # HERMIT_TIMEOUT of each case, seconds
ENDS_WITHIN = TIMEOUT + 20  # a loader that has not ended by then hangs

EHDR_FIELDS = [(4, 1), (5, 1), (6, 1), (7, 1), (16, 2), (18, 2), (20, 4), (24, 8), (32, 8),
               (40, 8), (48, 4), (52, 2), (54, 2), (56, 2), (58, 2), (60, 2), (62, 2)]
PHDR_FIELDS = [(0, 4), (4, 4), (8, 8), (16, 8), (24, 8), (32, 8), (40, 8), (48, 8)]
NOTE_FIELDS = [(0, 4), (4, 4), (8, 4), (12, 4), (16, 4), (16, 8)]  # namesz descsz type name desc
# A unikernel image lives at 2 MiB; these move parts of it to where things break.
ADDRESSES = [0, 0x1000, 0x1FF000, 0x200000, 0x3FFFFFFF, 0x40000000, 0xFFFFF000,
             0x100000000, 0xFFFFFFFFFFFFF000]


def value(rng: random.Random, old: int, size: int) -> int:
    top = (1 << 8 * size) - 1
    choice = rng.randrange(8)
    new = [0, 1, top, top >> 1, old + 1, old - 1, old ^ 1 << rng.randrange(8 * size),
           rng.choice(ADDRESSES) if size == 8 else rng.randrange(top + 1)][choice]
    return new & top


def patch(data: bytearray, offset: int, size: int, rng: random.Random) -> str:
    old = int.from_bytes(data[offset:offset + size], "little")
    new = value(rng, old, size)
    if new == old:
        new ^= 1
    data[offset:offset + size] = new.to_bytes(size, "little")
    return f"{old:#x}->{new:#x}"


def mutants(image: bytes, n: int, seed: int = SEED) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    phoff, phentsize, phnum = struct.unpack_from("<Q", image, 32)[0], 56, image[56]
    note = image.index(b"Xen\0") - 12
    cases = []
    for i in range(n):
        data = bytearray(image)
        kind = rng.choice(["ehdr", "phdr", "phdr", "note", "truncate", "bytes"])
        if kind == "ehdr":
            off, size = rng.choice(EHDR_FIELDS)
            what = f"ehdr+{off}: {patch(data, off, size, rng)}"
        elif kind == "phdr":
            k, (off, size) = rng.randrange(phnum), rng.choice(PHDR_FIELDS)
            what = f"phdr{k}+{off}: {patch(data, phoff + k * phentsize + off, size, rng)}"
        elif kind == "note":
            off, size = rng.choice(NOTE_FIELDS)
            what = f"note+{off}: {patch(data, note + off, size, rng)}"
        elif kind == "truncate":
            end = rng.choice([rng.randrange(0x400), rng.randrange(len(image))])
            data = data[:end]
            what = f"truncated to {end}"
        else:  # a few random bytes anywhere in the headers and the first segment
            spots = sorted(rng.randrange(0x300) for _ in range(rng.randint(1, 4)))
            for at in spots:
                data[at] ^= rng.randrange(1, 256)
            what = f"bytes at {spots}"
        cases.append((f"{i}: {kind} {what}", bytes(data)))
    return cases


def outcome(r: subprocess.CompletedProcess, case: str) -> str:
    """What the case ended in; fails on anything else."""
    err = r.stderr
    lines = err.splitlines()
    context = f"{case}: status {r.returncode}, stderr:\n{err}"
    assert "Traceback" not in err, context
    if r.returncode == 0:
        return "run"
    if r.returncode == 124:
        assert "did not exit within" in lines[-1], context
        return "timeout"
    if lines and lines[0].startswith(("hermit: guest crashed", "hermit: killed by signal")):
        assert 128 < r.returncode < 160, context
        return "crash"
    if r.returncode == 127 and len(lines) == 1:
        # the kernel's own start-up failure (kernel_fail: one line, 127); in a mutated
        # image its message pointer may name any bytes (seen: the tail of another string)
        return "error"
    # one line; under uhyve a triple fault prints the vCPU's state before it
    assert lines, context
    assert lines[-1].startswith(("proxy: ", "hermit: ")), context
    assert all(ln.startswith(("hermit: vCPU", "  ", "backtrace:")) for ln in lines[:-1]), context
    return "error"


@pytest.mark.parametrize("isle", ["uhyve", "qemu-tcg"])
def test_image_fuzz(sdk, tmp_path, isle):
    if isle == "uhyve" and not KVM:
        pytest.skip(NO_KVM)
    env = clean_env(HERMIT_TIMEOUT=str(TIMEOUT), HERMIT_MEM="64M",
                    HERMIT_ISLE="uhyve" if isle == "uhyve" else "qemu", HERMIT_KVM="0")
    image = (sdk / "extra/tests/hello").read_bytes()
    seen: collections.Counter[str] = collections.Counter()
    start = time.monotonic()
    for case, data in mutants(image, CASES):
        path = tmp_path / "mutant"
        path.write_bytes(data)
        path.chmod(0o755)
        try:
            r = subprocess.run([str(sdk / "bin/proxy"), str(path)], env=env, cwd=tmp_path,
                               capture_output=True, text=True, errors="replace",
                               timeout=ENDS_WITHIN)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{case}: the loader did not end within {ENDS_WITHIN} s")
        seen[outcome(r, case)] += 1
    took = time.monotonic() - start
    print(f"\n{isle}: {CASES} cases in {took:.1f} s: {dict(seen)}")
    assert seen["error"] and seen["run"]  # the mutations reach both the checks and the guest


def test_mutants_are_reproducible(sdk):
    image = (sdk / "extra/tests/hello").read_bytes()
    assert mutants(image, 5) == mutants(image, 5)
    assert all(data != image for _, data in mutants(image, CASES))
