"""The mailbox poller (HERMIT_HC_POLL=1, hermit_build/poller.py) under uhyve and
QEMU+KVM: file calls served without a VM exit or a doorbell give the results of the
classic path, a call that blocks on the host stops no other, and the poller did
serve (HERMIT_VERBOSE's report)."""

import re

import pytest
from conftest import KVM, NO_KVM, run
from test_fdtable import stdin_later

pytestmark = pytest.mark.skipif(not KVM, reason=NO_KVM)
SERVED = re.compile(r"(?:uhyve|qemu): (\d+) file calls served by the poller")


@pytest.fixture(params=["uhyve", "qemu"])
def poll(request) -> dict[str, str]:
    return {"HERMIT_ISLE": request.param, "HERMIT_KVM": "1", "HERMIT_HC_POLL": "1"}


def test_a_file_written_and_read_through_the_poller(sdk, tmp_path, poll):
    # fileio checks what it reads back against a checksum of what it wrote
    r = run(sdk, "extra/benchmarks/fileio", "f", "1", "256", env={**poll, "HERMIT_VERBOSE": "1"},
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "write_calls=4096 read_calls=4097" in r.stdout
    served = SERVED.search(r.stderr)
    assert served and int(served[1]) > 0, r.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []  # it removed its file


@pytest.mark.parametrize("isle", ["uhyve", "qemu"])
def test_the_classic_path_reports_no_poller(sdk, tmp_path, isle):
    r = run(sdk, "extra/benchmarks/fileio", "f", "1", "65536",
            env={"HERMIT_ISLE": isle, "HERMIT_HC_POLL": "0", "HERMIT_VERBOSE": "1"},
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not SERVED.search(r.stderr)


def test_a_blocked_call_on_the_poller_stops_no_other_cpu(sdk, tmp_path, poll):
    out = stdin_later(sdk, poll, tmp_path, "waiter")
    assert out == "read 1, other thread first, close 0, then read -1 (Bad file descriptor)\n"


def test_the_fd_table_through_the_poller(sdk, tmp_path, poll):
    r = run(sdk, "extra/tests/fdtable", env=poll, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "126 checks, 0 failed"
