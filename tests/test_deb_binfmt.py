"""binfmt_misc support without touching the host's registrations: the rule that
`hermit binfmt` and the hermit-binfmt package register, and the register/unregister
protocol, played against a directory that stands in for /proc/sys/fs/binfmt_misc."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, clean_env

from hermit_build.deb import binfmt
from hermit_build.deb.binfmt import BinfmtError

HERMIT = ROOT / "tools" / "hermit"


def header(path: Path) -> bytes:
    return path.read_bytes()[:64]


def test_rule_matches_hermit_images_only(sdk, tmp_path):
    hello = sdk / "extra/tests/hello"
    assert binfmt.matches(header(hello))
    unmarked = bytearray(header(hello))
    unmarked[7] = 0  # what plain gcc leaves: a Linux binary
    assert not binfmt.matches(bytes(unmarked))
    assert not binfmt.matches(header(Path(os.path.realpath(shutil.which("sh") or "/bin/sh"))))
    obj = bytearray(header(hello))
    obj[16] = 1  # ET_REL: an object file compiled by x86_64-hermit-gcc -c is no image
    assert not binfmt.matches(bytes(obj))
    assert not binfmt.matches(b"\x7fELF")


def test_rule_text():
    line = binfmt.rule("/opt/hermit/bin/proxy")
    name, kind, offset, magic, mask, interp, flags = line.split(":")[1:8]
    assert (name, kind, offset, interp, flags) == ("hermit", "M", "0", "/opt/hermit/bin/proxy", "")
    assert magic.startswith(r"\x7f\x45\x4c\x46\x02\x01\x01\x42")
    assert len(magic) == len(mask) == 4 * 20
    with pytest.raises(BinfmtError, match="absolute path"):
        binfmt.rule("bin/proxy")


def test_register_and_unregister_protocol(tmp_path):
    fake = tmp_path / "binfmt_misc"
    fake.mkdir()
    (fake / "register").write_text("")
    proxy = tmp_path / "proxy"
    proxy.write_text("#!/bin/sh\n")
    proxy.chmod(0o755)
    assert binfmt.register(str(proxy), fake) == (fake / "register").read_text()
    assert binfmt.status(fake) is None  # the kernel would create the entry; nothing here does
    (fake / "hermit").write_text(f"enabled\ninterpreter {proxy}\nflags: \noffset 0\n")
    assert binfmt.status(fake) == {"state": "enabled", "interpreter": str(proxy), "flags": "",
                                   "offset": "0"}
    binfmt.register(str(proxy), fake)  # re-registering first removes the old entry
    assert (fake / "hermit").read_text() == "-1"
    assert binfmt.unregister(fake) is True
    (fake / "hermit").unlink()
    assert binfmt.unregister(fake) is False


def test_register_refuses_a_missing_interpreter(tmp_path):
    with pytest.raises(BinfmtError, match="is not an executable proxy"):
        binfmt.register(str(tmp_path / "no-proxy"), tmp_path)


def test_cli_rule_defaults_to_the_proxy_beside_hermit():
    r = subprocess.run([str(HERMIT), "binfmt", "rule"], env=clean_env(), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == binfmt.rule(str(ROOT / "tools" / "proxy")) + "\n"


def test_cli_status_of_an_unregistered_host():
    if binfmt.status() is not None:
        pytest.skip("hermit images are registered on this host")
    r = subprocess.run([str(HERMIT), "binfmt", "status"], env=clean_env(), capture_output=True,
                       text=True, timeout=60)
    assert (r.returncode, r.stdout) == (1, "hermit: images are not registered with binfmt_misc\n")
