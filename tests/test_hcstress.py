"""Host calls under load (issue 11): 8 threads on 4 vCPUs issue mixed file calls for
10 s and check every result (usr/tests/hcstress.c), under every loader, with KVM
also with the poller forced on (HERMIT_HC_POLL=always: its compiled server and the
loader's other threads claim calls from one mailbox at once), and natively."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import KVM, NO_KVM, run

ROOT = Path(__file__).resolve().parent.parent
SECONDS, THREADS = "10", "8"
DONE = f"hcstress: {THREADS} threads, "


def check(r: subprocess.CompletedProcess, cwd: Path) -> None:
    assert r.returncode == 0, f"exit status {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}"
    last = r.stdout.splitlines()[-1]
    assert last.startswith(DONE) and last.endswith(" calls, 0 failed"), r.stdout[-3000:]
    assert int(last.split()[3]) > 1000, last  # it did run for its 10 s
    assert list(cwd.iterdir()) == [], "it left its files behind"


def test_mixed_calls_under_load(sdk, loader, tmp_path):
    r = run(sdk, "extra/tests/hcstress", SECONDS, THREADS, env={**loader, "HERMIT_CPUS": "4"},
            cwd=tmp_path)
    check(r, tmp_path)


@pytest.mark.skipif(not KVM, reason=NO_KVM)
@pytest.mark.parametrize("isle", ["uhyve", "qemu"])
def test_mixed_calls_with_the_poller_forced_on(sdk, tmp_path, isle):
    env = {"HERMIT_ISLE": isle, "HERMIT_KVM": "1", "HERMIT_CPUS": "4",
           "HERMIT_HC_POLL": "always", "HERMIT_VERBOSE": "1"}
    r = run(sdk, "extra/tests/hcstress", SECONDS, THREADS, env=env, cwd=tmp_path)
    check(r, tmp_path)
    assert "file calls served by the poller" in r.stderr, r.stderr[-2000:]


def test_mixed_calls_natively(tmp_path):
    """The reference: Linux passes its own checks."""
    if not shutil.which("musl-gcc"):
        pytest.skip("musl-gcc not found (apt install musl-tools)")
    exe = tmp_path / "hcstress"
    p = subprocess.run(["musl-gcc", "-static", "-O2", "-pthread",
                        str(ROOT / "usr/tests/hcstress.c"), "-o", str(exe)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    work = tmp_path / "work"
    work.mkdir()
    r = subprocess.run([str(exe), "2", THREADS], capture_output=True, text=True, cwd=work,
                       timeout=60,
                       env={k: v for k, v in os.environ.items() if not k.startswith("HERMIT_")})
    check(r, work)
