"""uhyve's sampling profiler (HERMIT_PROFILE, hermit run --profile): a program with
two known hot functions, one given twice the other's work, is profiled without a
rebuild; the folded stacks, the flame graph and the table say so.  Both samplers: the
compiled one (pyext/sample.c) and the Python one the loader falls back to."""

import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
from conftest import KVM, NO_KVM, clean_env, run

from hermit_build import profile
from hermit_build.abi import C, S

# bin/proxy without the loader's extension: its Python paths
WITHOUT_EXTENSION = ("import runpy, sys; sys.modules['_hermit_fastio'] = None; "
                     "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


def counts(folded: str) -> Counter:
    out = Counter()
    for line in folded.splitlines():
        stack, n = line.rsplit(" ", 1)
        out[stack.split(";")[-1]] += int(n)
    return out


@pytest.mark.skipif(not KVM, reason=NO_KVM)
@pytest.mark.parametrize("sampler", ["compiled", "python"])
def test_two_hot_functions_in_their_proportion(sdk, tmp_path, sampler):
    argv = [str(sdk / "bin/proxy"), str(sdk / "extra/tests/hotspots"), "3"]
    if sampler == "python":
        argv = ["/usr/bin/python3", "-S", "-c", WITHOUT_EXTENSION, *argv]
    else:  # the loader finds its extension, so the profiler is the compiled one
        subprocess.run([sys.executable, "-c", "from _hermit_fastio import Sampler"], check=True,
                       env=clean_env(PYTHONPATH=str(sdk / "lib/hermit/python")))
    r = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=120,
                       env=clean_env(HERMIT_ISLE="uhyve", HERMIT_PROFILE="1"))
    assert r.returncode == 0, r.stderr
    leaves = counts((tmp_path / profile.FOLDED).read_text())
    a, b = leaves["hot_a"], leaves["hot_b"]
    assert sum(leaves.values()) >= 1000, leaves.most_common(5)
    assert abs(a / (a + b) - 2 / 3) <= 2 / 3 * 0.10, (a, b)  # 2:1 within 10% relative
    svg = ET.parse(tmp_path / profile.SVG).getroot()  # well-formed, and names them
    titles = " ".join(t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}title"))
    assert "hot_a" in titles and "main" in titles
    table = re.search(r"self\s+total\s+function\n(.*)", r.stderr, re.S)
    assert table and table[1].splitlines()[0].endswith("hot_a"), r.stderr


def test_compiled_labels_without_kvm(sdk, monkeypatch):
    """The compiled sampler counts a vCPU outside KVM_RUN by its label, as the Python one
    does: a host call by its number, idle; run() on a vCPU fd KVM refuses is an OSError."""
    monkeypatch.syspath_prepend(str(sdk / "lib/hermit/python"))
    from _hermit_fastio import Sampler

    info, event = S.boot_info.offset, S.hc_event.offset
    layout = (C.BOOT_INFO_ADDR, info["magic"], C.BOOT_INFO_MAGIC, info["hc_events"],
              info["entry_start"], info["entry_end"], S.hc_event.size, event["in_user"])
    s = Sampler([(0, 1 << 20, bytearray(1 << 20), 0)], [0], 1000, signal.SIGUSR1, True,
                16 << 10, 4096, 0, layout)
    s.start()
    with pytest.raises(OSError):
        s.run(0)  # stdin is no vCPU: the ioctl fails, the thread is known from now
    s.label(0, 7)
    time.sleep(0.05)
    s.label(0, 256)
    time.sleep(0.05)
    s.label(0, 0)
    s.stop()
    samples = s.collect()
    s.close()
    assert (1, 7) in samples and (2, 256) in samples and s.ticks >= 20
    assert all(len(x) == 2 for x in samples)  # never a stack: the vCPU never ran
    with pytest.raises(ValueError):
        s.label(1, 0)


def test_the_flag_and_a_bad_rate(sdk, tmp_path):
    r = subprocess.run([str(sdk / "bin/hermit"), "run", "--profile=1x",
                        str(sdk / "extra/tests/hello")], capture_output=True, text=True,
                       cwd=tmp_path, env=clean_env(), timeout=60)
    assert r.returncode != 0 and "--profile='1x'" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_qemu_says_the_profiler_is_uhyves(sdk, tmp_path):
    r = run(sdk, "extra/tests/hello", env={"HERMIT_ISLE": "qemu", "HERMIT_KVM": "0",
                                           "HERMIT_PROFILE": "1"}, cwd=tmp_path)
    assert r.returncode == 0 and "HERMIT_PROFILE is uhyve's" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_folded_stacks_and_the_table():
    stacks = Counter({("main", "f"): 3, ("main", "g", "f"): 1, ("[idle]",): 4})
    assert profile.folded(stacks) == "[idle] 4\nmain;f 3\nmain;g;f 1\n"
    # (function, self, total): only functions with samples of their own are listed
    assert sorted(profile.top(stacks)) == [("[idle]", 4, 4), ("f", 4, 4)]
    assert profile.top(Counter({("main", "f"): 3, ("main",): 1})) == [("f", 3, 3),
                                                                    ("main", 1, 4)]
    ET.fromstring(profile.svg(stacks, "t <&> t"))  # escapes what it prints
