"""1,000 connections at once through the NIC (issue 12, "Bad input": many connections
behave as on Linux): the host opens them all to a guest epoll server
(`net_epoll serve`) over HERMIT_APP_PORT, each sends its own message and checks its
echo, and only then are they closed, so the guest holds every one at the same time.
Under uhyve this crosses the loader's libslirp (one host socket per connection, the
loader's RLIMIT_NOFILE), under QEMU its user network; natively the same app serves
the same client, which is how the test shows it cannot pass without the connections."""

import re
import resource
import selectors
import shutil
import socket
import subprocess
import time

import pytest
from conftest import ROOT, clean_env

CONNS = 1000
DEADLINE_S = 120  # for all of them; a loaded TCG guest takes ~10 s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def nofile():
    """This process holds CONNS sockets at once (and the loader's libslirp as many)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < CONNS + 64:
        pytest.skip(f"RLIMIT_NOFILE's hard limit {hard} is under {CONNS + 64}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * CONNS)), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def message(i: int) -> bytes:
    return f"connection {i:5d} of {CONNS}\n".encode()


def many(port: int) -> tuple[int, int, list[str]]:
    """Open CONNS connections at once (non-blocking connects), send each its message,
    read its echo; close them all only when every one is checked (or the deadline
    passed).  (connected, echoed intact, problems)"""
    sel = selectors.DefaultSelector()
    socks, got, problems = [], [bytearray() for _ in range(CONNS)], []
    connected = done = 0
    for i in range(CONNS):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        socks.append(s)
        sel.register(s, selectors.EVENT_WRITE, i)
    deadline = time.monotonic() + DEADLINE_S
    while done < CONNS and time.monotonic() < deadline:
        for key, events in sel.select(1.0):
            i, s = key.data, key.fileobj
            if events & selectors.EVENT_WRITE:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    problems.append(f"connection {i}: {err}")
                    sel.unregister(s)
                    done += 1
                    continue
                connected += 1
                s.send(message(i))  # 25 bytes into an empty buffer: all of it
                sel.modify(s, selectors.EVENT_READ, i)
                continue
            try:
                data = s.recv(4096)
            except OSError as e:  # a reset: counted, the others go on
                problems.append(f"connection {i}: {e}")
                data = b""
            got[i] += data
            if not data or len(got[i]) >= len(message(i)):
                sel.unregister(s)
                done += 1
    intact = sum(bytes(g) == message(i) for i, g in enumerate(got))
    if done < CONNS:
        problems.append(f"{CONNS - done} connections unanswered after {DEADLINE_S} s")
    for s in socks:
        s.close()
    sel.close()
    return connected, intact, problems


def usual_fd_limit() -> None:
    """A login shell's soft RLIMIT_NOFILE: the loader must raise its own."""
    resource.setrlimit(resource.RLIMIT_NOFILE,
                       (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def serve_and_check(argv: list[str], env: dict[str, str], guest_port: int, host_port: int,
                    preexec=None) -> str:
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, preexec_fn=preexec)
    try:
        for line in p.stdout:  # the checks of its set-up, then "listening PORT"
            if line.startswith("listening") or line.startswith("not ok"):
                break
        assert line == f"listening {guest_port}\n", line + p.stderr.read()
        t = time.monotonic()
        connected, intact, problems = many(host_port)
        seconds = time.monotonic() - t
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
        p.wait()
    assert (connected, intact) == (CONNS, CONNS), (problems[:5], err[-2000:])
    assert p.returncode == 0, out[-2000:] + err[-2000:]
    m = re.search(r"^served (\d+) most_open_at_once=(\d+)", out, re.M)
    assert m and int(m[1]) == CONNS and int(m[2]) == CONNS, out[-2000:]
    print(f"{CONNS} connections at once, each echoed and checked, in {seconds:.1f} s")
    return err


def test_1000_connections_through_the_nic(sdk, loader):
    host = free_port()
    env = clean_env(**loader, HERMIT_APP_PORT=f"{host}:7777", HERMIT_VERBOSE="1",
                    HERMIT_TIMEOUT="240")
    err = serve_and_check([str(sdk / "bin/proxy"), str(sdk / "extra/tests/net_epoll"),
                           "serve", "7777", str(CONNS)], env, 7777, host, usual_fd_limit)
    if loader["HERMIT_ISLE"] == "uhyve":  # the NIC dropped nothing it should not have
        assert re.search(r"uhyve: NIC: \d+ frames sent", err), err[-2000:]


def test_1000_connections_natively(tmp_path):
    """The same app and client on Linux: what the guest is held to."""
    if not shutil.which("musl-gcc"):
        pytest.skip("musl-gcc not found (apt install musl-tools)")
    exe = tmp_path / "net_epoll"
    subprocess.run(["musl-gcc", "-static", "-O2", "-Wall", "-Werror", "-o", str(exe),
                    str(ROOT / "usr/tests/net_epoll.c")], check=True)
    port = free_port()
    serve_and_check([str(exe), "serve", str(port), str(CONNS)], clean_env(), port, port)
