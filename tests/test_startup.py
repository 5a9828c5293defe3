"""uhyve's boot path stays light (issue 11): the modules `proxy hello` imports are
held to an allow-list, so that a heavy import (typing, enum through `signal`,
hashlib, re, subprocess, ...: each costs milliseconds before the first guest
instruction) cannot creep back.  A module a change really needs goes on the list
in the same change, with its cost measured (`python3 -X importtime`)."""

import subprocess

import pytest
from conftest import KVM, NO_KVM, clean_env

ALLOWED = set("""
__future__ _abc _codecs _collections _collections_abc _ctypes _frozen_importlib_external
_functools _io _operator _signal _sitebuiltins _stat _struct _weakrefset abc codecs
collections ctypes ctypes._endian encodings encodings.aliases encodings.utf_8 errno fcntl
functools genericpath io itertools keyword marshal mmap operator os posix posixpath
reprlib select site stat struct threading time types zipimport
""".split())


def imported(sdk) -> set[str]:
    """The modules `proxy hello` imports under uhyve, as -X importtime lists them."""
    interpreter = (sdk / "bin/proxy").read_text().splitlines()[0][2:].split()
    r = subprocess.run([*interpreter, "-X", "importtime", str(sdk / "bin/proxy"),
                        str(sdk / "extra/tests/hello")], env=clean_env(HERMIT_ISLE="uhyve"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("import time:")][1:]
    return {ln.rsplit("|", 1)[1].strip() for ln in lines}


def test_the_boot_path_imports_only_what_booting_needs(sdk):
    if not KVM:
        pytest.skip(NO_KVM)
    mods = imported(sdk)
    assert "hermit_build.uhyve.vcpu" in mods  # it did boot through uhyve
    extra = sorted(m for m in mods - ALLOWED if not m.startswith("hermit_build"))
    assert not extra, f"new imports on uhyve's boot path: {extra}"
