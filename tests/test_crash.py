"""Guests that fault: a one-screen report with registers and a symbolized backtrace."""

import re

import pytest
from conftest import run


def test_null_pointer(sdk, loader):
    r = run(sdk, "extra/tests/crash_null", env=loader)
    assert r.returncode == 128 + 11, r.stderr
    assert r.stdout == "about to dereference NULL\n"
    # in the application whatever its privilege (under kvm_pvm it is the kernel's)
    assert ("guest crashed in the application: page fault (#PF): write at address 0x0 "
            "(null pointer dereference)" in r.stderr)
    assert re.search(r"rip 0x[0-9a-f]{16}", r.stderr)
    bt = r.stderr.split("backtrace:")[1]
    assert "write_through+" in bt.splitlines()[1]
    assert "main+" in bt
    assert "Traceback" not in r.stderr


def test_division_by_zero(sdk, loader):
    r = run(sdk, "extra/tests/crash_div0", env=loader)
    assert r.returncode == 128 + 8, r.stderr
    assert "guest crashed in the application: divide error (#DE)" in r.stderr
    assert "divide+" in r.stderr and "main+" in r.stderr


@pytest.mark.parametrize("where", ["main", "thread"])
def test_stack_overflow(sdk, loader, where):
    r = run(sdk, "extra/tests/crash_stack", *(["thread"] if where == "thread" else []),
            env=loader)
    assert r.returncode == 128 + 11, r.stderr
    assert "stack overflow" in r.stderr
    assert "recurse+" in r.stderr
