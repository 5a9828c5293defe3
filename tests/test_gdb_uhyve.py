"""GDB under uhyve (HERMIT_DEBUG=1, uhyve/gdbstub.py): Debian's gdb, in batch mode,
breaks, continues, prints a backtrace and variables, steps, watches a variable and
detaches, and Ctrl-C stops every vCPU; on kvm_pvm as on any KVM (the guest's kernel
sends breakpoints and steps to the loader, arch/x86/debug.c).  Watchpoints are GDB's
software ones (set can-use-hw-watchpoints 0)."""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
from conftest import KVM, NO_KVM, ROOT, clean_env

pytestmark = [pytest.mark.skipif(not KVM, reason=NO_KVM),
              pytest.mark.skipif(not shutil.which("gdb"), reason="gdb not found (apt install gdb)")]


@pytest.fixture(scope="module")
def gdbme(sdk, tmp_path_factory):
    """usr/tests/gdbme.c built with -g -O0 by the SDK (debug information names the
    build's paths, so the installed examples carry no such image)."""
    exe = tmp_path_factory.mktemp("gdbme") / "gdbme"
    subprocess.run([str(sdk / "bin/x86_64-hermit-gcc"), "-g", "-O0", "-o", str(exe),
                    str(ROOT / "usr/tests/gdbme.c")], check=True)
    return exe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Guest:
    """The proxy waiting for GDB, and a batch gdb session against it."""

    def __init__(self, sdk, app, *args, cwd, cpus=1):
        self.sdk, self.app, self.port = sdk, sdk / app, free_port()  # app: absolute or in sdk
        env = clean_env(HERMIT_ISLE="uhyve", HERMIT_DEBUG="1", HERMIT_CPUS=str(cpus),
                        HERMIT_GDB_PORT=str(self.port))
        self.proxy = subprocess.Popen([str(sdk / "bin/proxy"), str(self.app), *args], env=env,
                                      cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
        self.notice = self.proxy.stderr.readline()  # it listens before it says so
        assert f"waits for GDB on localhost:{self.port}" in self.notice, self.notice

    def gdb(self, *commands, interrupt_after=None) -> str:
        argv = ["gdb", "-q", "-batch", "-nx", "-ex", f"target remote :{self.port}"]
        for c in commands:
            argv += ["-ex", c]
        g = subprocess.Popen([*argv, str(self.app)], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        if interrupt_after is not None:
            time.sleep(interrupt_after)
            g.send_signal(signal.SIGINT)  # Ctrl-C: gdb sends the stub its 0x03
        out, _ = g.communicate(timeout=120)
        return out

    def finish(self) -> tuple[int, str, str]:
        out, err = self.proxy.communicate(timeout=120)
        return self.proxy.returncode, out, self.notice + err


def test_break_backtrace_print_step_watch_detach(sdk, gdbme, tmp_path):
    guest = Guest(sdk, gdbme, cwd=tmp_path)
    out = guest.gdb("break add", "continue", "bt", "print a", "print b", "print global_value",
                    "next", "next", "print sum", "finish", "delete",
                    "set can-use-hw-watchpoints 0",
                    "watch global_value", "continue", "delete", "detach")
    assert "Breakpoint 1, add (a=0, b=1) at" in out, out
    assert "#0  add (a=0, b=1)" in out and "in main () at" in out, out
    assert "$1 = 0\n$2 = 1\n$3 = 42\n" in out, out
    assert "\n13\t\treturn sum;\n$4 = 1\n" in out, out  # two lines stepped
    assert "Value returned is $5 = 1" in out, out
    assert "Old value = 42\nNew value = 6\n" in out, out
    assert "detached" in out, out
    status, stdout, stderr = guest.finish()
    assert status == 0, stderr
    assert stdout == "total 6, global 6, calls 3\n"


def test_ctrl_c_stops_every_vcpu(sdk, tmp_path):
    guest = Guest(sdk, "extra/tests/hotspots", "4", cwd=tmp_path, cpus=2)
    out = guest.gdb("continue", "info threads", "bt", "detach", interrupt_after=2.0)
    assert "received signal SIGINT" in out, out
    assert "Thread 1" in out and "Thread 2" in out, out
    assert "in main ()" in out, out  # thread 1 computes in hot_a or hot_b under main
    status, stdout, _ = guest.finish()
    assert status == 0 and stdout.startswith("hotspots: "), stdout


def test_hardware_watchpoints_are_refused_cleanly(sdk, gdbme, tmp_path):
    """Not offered (gdbstub.py says why): GDB says it cannot insert one, the session
    and the guest go on."""
    guest = Guest(sdk, gdbme, cwd=tmp_path)
    out = guest.gdb("break main", "continue", "watch global_value", "continue", "detach")
    assert "Could not insert hardware watchpoint" in out, out
    assert guest.finish()[:2] == (0, "total 6, global 6, calls 3\n")


def test_a_port_in_use_is_one_line(sdk, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = subprocess.run([str(sdk / "bin/proxy"), str(sdk / "extra/tests/hello")],
                           env=clean_env(HERMIT_ISLE="uhyve", HERMIT_DEBUG="1",
                                         HERMIT_GDB_PORT=str(port)),
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot listen for GDB on port {port}" in lines[0], r.stderr


def test_a_breakpoint_without_a_debugger_is_a_crash_report(sdk, tmp_path):
    """int3 in an application run without HERMIT_DEBUG ends it as before (SIGTRAP)."""
    src = tmp_path / "bp.c"
    src.write_text("int main(void) { __asm__ volatile(\"int3\"); return 0; }\n")
    exe = tmp_path / "bp"
    subprocess.run([str(sdk / "bin/x86_64-hermit-gcc"), "-o", str(exe), str(src)], check=True)
    r = subprocess.run([str(sdk / "bin/proxy"), str(exe)], env=clean_env(HERMIT_ISLE="uhyve"),
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 128 + 5 and "breakpoint (#BP)" in r.stderr, r.stderr
    assert os.path.exists(exe)


def test_malformed_packets_get_errors_not_a_dead_server(sdk, gdbme, tmp_path):
    """A client that is not GDB (or a broken one): errors, then a clean detach."""
    guest = Guest(sdk, gdbme, cwd=tmp_path)

    def packet(s, body: bytes) -> bytes:
        s.sendall(b"$" + body + b"#" + b"%02x" % (sum(body) & 0xFF))
        data = b""
        while not data.endswith(b"#") and b"#" not in data[1:]:
            data += s.recv(4096)
        while len(data) - data.index(b"#") < 3:
            data += s.recv(4096)
        return data[data.index(b"$") + 1 : data.index(b"#")]

    with socket.create_connection(("127.0.0.1", guest.port)) as s:
        for bad in (b"mzz,4", b"m10", b"Pq=1", b"Z0,zz,1", b"Hg9999", b"p999"):
            assert packet(s, bad).startswith(b"E"), bad
        assert packet(s, b"m1000000000000,8") == b"E01"  # outside guest memory
        assert packet(s, b"?").startswith(b"T05thread:01;")
        assert packet(s, b"D") == b"OK"
    status, stdout, stderr = guest.finish()
    assert status == 0 and stdout == "total 6, global 6, calls 3\n", stderr
    assert "Traceback" not in stderr
