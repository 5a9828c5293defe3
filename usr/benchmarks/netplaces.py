"""Where network_targets.py runs a server, and how the host reaches it: natively on
loopback, natively in a network namespace behind slirp4netns (a port forward through
its API socket), in a hermit guest behind a forwarded port (HERMIT_APP_PORT, the
loaders' user-mode network), and in a hermit guest on a tap device inside a network
namespace this module makes (root only; HERMIT_NETIF, HERMIT_IP, HERMIT_GATEWAY,
HERMIT_MASK).  Each `Place.start()` gives a running server and the address, port
and command prefix a client on the host uses; `stop()` leaves nothing behind."""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from boot import BenchError

READY_S = 60  # a server's "listening" line within this (TCG boots slowly)
TAP_HOST, TAP_GUEST, TAP_MASK = "10.0.3.1", "10.0.3.2", "255.255.255.0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tap_backend(sdk: Path) -> bool:
    """Does this SDK's loader know HERMIT_NETIF (the tap backend of issue 12)?"""
    for py in sdk.rglob("hermit_build/**/*.py"):
        try:
            if "HERMIT_NETIF" in py.read_text():
                return True
        except OSError:
            pass
    return False


@dataclass
class Running:
    procs: list[subprocess.Popen]
    addr: str  # where a client connects
    port: int
    prefix: list[str] = field(default_factory=list)  # runs a client where it can reach
    cleanup: list[list[str]] = field(default_factory=list)  # commands run at stop()

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
            p.wait()
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        for cmd in self.cleanup:
            subprocess.run(cmd, capture_output=True)


def _wait_line(p: subprocess.Popen, what: str) -> None:
    """The server's first line says it listens; its last words otherwise."""
    ready, _, _ = select.select([p.stdout], [], [], READY_S)
    line = p.stdout.readline() if ready else ""
    if "listening" not in line:
        p.kill()
        err = p.stderr.read().strip().splitlines() if p.stderr else []
        raise BenchError(f"{what}: no 'listening' line ({(err or [line.strip() or 'none'])[-1]})")


def _popen(argv: list[str], env: dict[str, str] | None) -> subprocess.Popen:
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)


@dataclass
class Place:
    key: str
    label: str
    skip: str = ""  # why it cannot run here ("" when it can)
    env: dict[str, str] | None = None  # hermit: the proxy's environment; None: native
    kind: str = "hermit"  # native, slirp4netns, hermit, tap

    def start(self, sdk: Path, native: list[str], image: list[str], port: int) -> Running:
        """native/image: the server's argv natively and under the proxy, listening on
        `port` (0.0.0.0) inside its place."""
        if self.kind == "native":
            p = _popen(native, self.env)
            _wait_line(p, self.label)
            return Running([p], "127.0.0.1", port)
        if self.kind == "slirp4netns":
            return _slirp4netns(native, port)
        if self.kind == "tap":
            return _tap(sdk, image, port, self.env or {})
        host = free_port()
        p = _popen([str(sdk / "bin/proxy"), *image],
                   dict(self.env or {}, HERMIT_APP_PORT=f"{host}:{port}"))
        _wait_line(p, self.label)
        return Running([p], "127.0.0.1", host)


def _api(sock: str, request: dict) -> dict:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(sock)
        s.sendall(json.dumps(request).encode())
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return json.loads(data or b"{}")


def _slirp4netns(native: list[str], port: int) -> Running:
    """The native server in a network namespace of its own (a user namespace too when
    not root, as a rootless container has), slirp4netns giving it tap0 and forwarding
    a host port to it through its API socket."""
    userns = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    server = _popen(["unshare", *userns, "--net", *native], None)
    running = Running([server], "127.0.0.1", 0)
    try:
        _wait_line(server, "the native server in its namespace")
        sock = f"/tmp/hermit-bench-slirp-{os.getpid()}-{port}.sock"
        running.cleanup.append(["rm", "-f", sock])
        slirp = subprocess.Popen(["slirp4netns", "--configure", "--mtu=1500",
                                  "--disable-host-loopback", "--api-socket", sock,
                                  str(server.pid), "tap0"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        running.procs.append(slirp)
        host = free_port()
        deadline = time.monotonic() + 10
        while True:
            try:
                answer = _api(sock, {"execute": "add_hostfwd", "arguments": {
                    "proto": "tcp", "host_addr": "127.0.0.1", "host_port": host,
                    "guest_port": port}})
                if "return" in answer:
                    break
                raise BenchError(f"slirp4netns refused the forward: {answer}")
            except (FileNotFoundError, ConnectionRefusedError, json.JSONDecodeError):
                if slirp.poll() is not None or time.monotonic() > deadline:
                    raise BenchError("slirp4netns did not start: " + (
                        slirp.stderr.read().strip().splitlines() or ["no answer"])[-1]) \
                        from None
                time.sleep(0.02)
        running.port = host
        return running
    except BaseException:
        running.stop()
        raise


def _tap(sdk: Path, image: list[str], port: int, env: dict[str, str]) -> Running:
    """A network namespace of the bench's own with tap0 (the host's side 10.0.3.1),
    the guest on it as 10.0.3.2; clients run in the namespace too."""
    ns = f"hermit-bench-{os.getpid()}"
    running = Running([], TAP_GUEST, port, ["ip", "netns", "exec", ns],
                      [["ip", "netns", "del", ns]])
    try:
        for cmd in (["ip", "netns", "add", ns],
                    ["ip", "-n", ns, "tuntap", "add", "dev", "tap0", "mode", "tap"],
                    ["ip", "-n", ns, "addr", "add", f"{TAP_HOST}/24", "dev", "tap0"],
                    ["ip", "-n", ns, "link", "set", "tap0", "up"],
                    ["ip", "-n", ns, "link", "set", "lo", "up"]):
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode:
                raise BenchError(f"{' '.join(cmd)}: {p.stderr.strip()}")
        p = _popen(["ip", "netns", "exec", ns, str(sdk / "bin/proxy"), *image],
                   dict(env, HERMIT_NETIF="tap0", HERMIT_IP=TAP_GUEST, HERMIT_GATEWAY=TAP_HOST,
                        HERMIT_MASK=TAP_MASK))
        running.procs.append(p)
        _wait_line(p, "the guest on tap0")
        return running
    except BaseException:
        running.stop()
        raise


def places(sdk: Path, kvm: str | None, qemu: str | None, tcg: bool,
           base: dict[str, str], python_pump: bool = False) -> list[Place]:
    """Every configuration, in the order of a round; `skip` says why one cannot run."""
    slirp = "" if shutil.which("slirp4netns") else \
        "slirp4netns not found: apt-get install slirp4netns (or tools/install-deps --bench)"
    unshare = "" if shutil.which("unshare") else "unshare not found: apt-get install util-linux"
    uh, qk = dict(base, HERMIT_ISLE="uhyve"), dict(base, HERMIT_ISLE="qemu", HERMIT_KVM="1")
    if os.geteuid() != 0:
        tap = "skipped: needs root (a network namespace and a tap device)"
    elif not tap_backend(sdk):
        tap = "skipped: no tap backend in this SDK (HERMIT_NETIF)"
    else:
        tap = ""
    out = [Place("native", "Linux native, loopback", kind="native"),
           Place("slirp4netns", "Linux native in a netns, slirp4netns", slirp or unshare,
                 kind="slirp4netns"),
           Place("uhyve", "uhyve, user-mode network", kvm or "", uh),
           *([Place("uhyve-py", "uhyve, user-mode network, nic.py's loop", kvm or "",
                    dict(uh, HERMIT_NIC_PUMP="python"))] if python_pump else []),
           Place("qemu-kvm", "QEMU microvm + KVM, user-mode network", kvm or qemu or "", qk)]
    if tcg:
        out.append(Place("qemu-tcg", "QEMU microvm (TCG), user-mode network", qemu or "",
                         dict(base, HERMIT_ISLE="qemu", HERMIT_KVM="0")))
    out += [Place("uhyve-tap", "uhyve, tap in a netns", kvm or tap, uh, kind="tap"),
            Place("qemu-kvm-tap", "QEMU microvm + KVM, tap in a netns", kvm or qemu or tap, qk,
                  kind="tap")]
    return out
