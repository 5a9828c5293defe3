"""uhyve's mailbox poller (HERMIT_HC_POLL=1, uhyve/poller.py): file calls served
without a VM exit give the results of the classic path, a call that blocks on the
host stops no other, and the poller did serve (HERMIT_VERBOSE's report)."""

import re

import pytest
from conftest import KVM, NO_KVM, run
from test_fdtable import stdin_later

pytestmark = pytest.mark.skipif(not KVM, reason=NO_KVM)
POLL = {"HERMIT_ISLE": "uhyve", "HERMIT_HC_POLL": "1"}
SERVED = re.compile(r"uhyve: (\d+) file calls served by the poller")


def test_a_file_written_and_read_through_the_poller(sdk, tmp_path):
    # fileio checks what it reads back against a checksum of what it wrote
    r = run(sdk, "extra/benchmarks/fileio", "f", "1", "256", env={**POLL, "HERMIT_VERBOSE": "1"},
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "write_calls=4096 read_calls=4097" in r.stdout
    served = SERVED.search(r.stderr)
    assert served and int(served[1]) > 0, r.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []  # it removed its file


def test_the_classic_path_reports_no_poller(sdk, tmp_path):
    r = run(sdk, "extra/benchmarks/fileio", "f", "1", "65536",
            env={"HERMIT_ISLE": "uhyve", "HERMIT_HC_POLL": "0", "HERMIT_VERBOSE": "1"},
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not SERVED.search(r.stderr)


def test_a_blocked_call_on_the_poller_stops_no_other_cpu(sdk, tmp_path):
    out = stdin_later(sdk, POLL, tmp_path, "waiter")
    assert out == "read 1, other thread first, close 0, then read -1 (Bad file descriptor)\n"


def test_the_fd_table_through_the_poller(sdk, tmp_path):
    r = run(sdk, "extra/tests/fdtable", env=POLL, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == "126 checks, 0 failed"
