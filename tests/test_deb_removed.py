"""After `nox -s deb-system` removed the packages (apt-get remove): nothing of hermit is left."""

import os
import subprocess

import pytest

from hermit_build.deb import binfmt
from hermit_build.deb.layout import PACKAGES, PREFIX

if os.environ.get("HERMIT_DEB_SYSTEM") != "removed":
    pytest.skip("checks a machine after `nox -s deb-system` removed the packages",
                allow_module_level=True)

LEFTOVERS = [PREFIX, "/usr/share/meson/cross/x86_64-hermit", "/usr/share/pkgconfig/hermit.pc",
             "/usr/lib/binfmt.d/hermit.conf", *(f"/usr/share/doc/{p.name}" for p in PACKAGES),
             *(f"/usr/share/lintian/overrides/{p.name}" for p in PACKAGES)]


def package_status(name: str) -> str:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True,
                       text=True)
    return r.stdout.strip() if r.returncode == 0 else "not known"


def test_nothing_is_left():
    assert [p for p in LEFTOVERS if os.path.lexists(p)] == []
    assert binfmt.status() is None, "hermit images are still registered with binfmt_misc"


def test_packages_are_gone():
    for p in PACKAGES:
        assert package_status(p.name) in ("not known", "unknown ok not-installed",
                                          "purge ok not-installed"), p.name
