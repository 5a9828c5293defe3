"""tools/debsrc: Debian source packages fetched with deb-src entries derived from the
machine's own apt sources, into a directory of the build (issues 10, 12, 13 build
musl, lwIP and GCC's runtime libraries this way)."""

import socket
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from urllib.parse import urlparse

import pytest
from conftest import ROOT

TOOL = ROOT / "tools/debsrc"
_loader = SourceFileLoader("debsrc", str(TOOL))
debsrc = module_from_spec(spec_from_loader("debsrc", _loader))
_loader.exec_module(debsrc)


def test_one_line_entries_become_deb_src():
    text = ("deb http://deb.debian.org/debian bookworm main contrib  # the archive\n"
            "# deb http://old.example/debian buster main\n"
            "deb-src http://deb.debian.org/debian bookworm main\n"
            "deb [arch=amd64] http://security.debian.org/ bookworm-security main\n")
    assert debsrc.one_line_sources(text) == [
        "deb-src http://deb.debian.org/debian bookworm main contrib",
        "deb-src [arch=amd64] http://security.debian.org/ bookworm-security main",
    ]


def test_deb822_stanzas_become_deb_src():
    text = ("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
            "Types: deb\nURIs: http://off.example/\nSuites: x\nComponents: main\nEnabled: no\n\n"
            "Types: deb-src\nURIs: http://src.example/\nSuites: x\nComponents: main\n")
    (stanza,) = debsrc.deb822_sources(text)
    assert stanza.splitlines() == [
        "Types: deb-src", "URIs: http://deb.debian.org/debian",
        "Suites: bookworm bookworm-updates", "Components: main",
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"]


def tool(*args, **kw):
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          timeout=300, **kw)


@pytest.mark.parametrize("args", [[], ["hello"], ["-h", "x"], ["Bad Name", "d"],
                                  ["hello=1 2", "d"]])
def test_bad_arguments_are_one_line(tmp_path, args):
    r = tool(*args, cwd=tmp_path)
    assert r.returncode == 1 and r.stdout == ""
    assert len(r.stderr.splitlines()) == 1, r.stderr


def reachable() -> str | None:
    lines, stanzas = debsrc.derive()
    uris = [w for ln in lines for w in ln.split() if "://" in w]
    uris += [w for s in stanzas for ln in s.splitlines() if ln.lower().startswith("uris:")
             for w in ln.split()[1:]]
    if not uris:
        return "this machine has no 'deb' entries in /etc/apt"
    try:
        socket.getaddrinfo(urlparse(uris[0]).hostname, 80)
    except OSError as e:
        return f"{uris[0]} unreachable: {e}"
    return None


def test_a_source_package_is_fetched_unpacked_and_reused(tmp_path):
    why = reachable()
    if why:
        pytest.skip(f"no package archive: {why}")
    r = tool("hello", str(tmp_path / "src"))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "src" / r.stdout.strip().rsplit("/", 1)[-1]
    assert r.stdout.strip() == str(out) and out.name.startswith("hello-")
    assert (out / "debian/control").is_file() and (out / "configure").is_file()
    again = tool("hello", str(tmp_path / "src"))
    assert again.returncode == 0 and again.stdout == r.stdout
    missing = tool("no-such-package-hermit", str(tmp_path / "src"))
    assert missing.returncode == 1 and missing.stderr.startswith("debsrc: E: ")
