"""Debian packages of hermit, made from the Meson install tree with dpkg-deb (no debhelper).

    hermit deb [--build build] [--stage DIR] [-o dist] [--package NAME] [--lintian]
    python3 -m hermit_build.deb ...      (the same)

Without --stage, the build tree is installed afresh (`meson install --destdir`) into
<build>/deb/root, so that no stale file of an older install reaches a package.
The layout (which file goes where) is in layout.py, the packing in build.py.
"""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .layout import PACKAGES, PREFIX

# Kept light (`hermit` builds its parser from add_arguments at every start): the
# packing modules are imported when packages are built.

SOURCE_ROOT = Path(__file__).resolve().parent.parent.parent


def fresh_install(build: Path, root: Path) -> Path:
    """`meson install` of the build tree into an empty destdir; return the destdir."""
    from .meta import DebError

    meson = shutil.which("meson")
    if not meson:
        raise DebError("meson is not on PATH; run `nox -s deb`, or pip install meson")
    if not (build / "meson-info").is_dir():
        raise DebError(f"{build} is not a Meson build tree; run meson setup first")
    if root.exists():
        shutil.rmtree(root)
    r = subprocess.run([meson, "install", "-C", str(build), "--destdir", str(root), "--quiet"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        lines = (r.stderr.strip() or r.stdout.strip()).splitlines()
        raise DebError(f"meson install failed: {lines[-1] if lines else r.returncode}")
    return root


def build_packages(stage: Path, dist: Path, *, build: Path | None = None,
                   source: Path = SOURCE_ROOT, work: Path | None = None,
                   only: list[str] | None = None) -> list[Path]:
    """Pack the install tree under the destdir `stage` into .deb files in `dist`."""
    from . import meta
    from .build import BuildInfo, build_all


    source = meta.source_dir(build, source)
    upstream = meta.meson_version(build, source)
    info = BuildInfo(version=meta.debian_version(upstream), upstream_version=upstream,
                     epoch=meta.source_date_epoch(source), maintainer=meta.maintainer(),
                     built_using=meta.static_built_using(os.environ.get("HERMIT_HOST_CC", "gcc")))
    names = only or [p.name for p in PACKAGES]
    unknown = sorted(set(names) - {p.name for p in PACKAGES})
    if unknown:
        raise meta.DebError(f"no package named {unknown[0]}; the packages are "
                       + ", ".join(p.name for p in PACKAGES))
    for name in names:  # older versions of the same packages would confuse `apt install *.deb`
        for old in dist.glob(f"{name}_*.deb"):
            old.unlink()
    work = work or (build / "deb" if build else dist / ".work")
    return build_all(stage / PREFIX.lstrip("/"), dist, work / "trees", info, names)


def lintian(debs: list[Path]) -> int:
    """Run lintian on the packages; print what it says; non-zero when it reports errors."""
    from .meta import DebError

    if not shutil.which("lintian"):
        raise DebError("lintian is not installed; apt-get install lintian")
    r = subprocess.run(["lintian", "--fail-on", "error", *map(str, debs)],
                       capture_output=True, text=True)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    tags = [ln for ln in r.stdout.splitlines() if ln[:2] in ("E:", "W:", "I:")]
    print(f"lintian: {len(debs)} package(s), {sum(t.startswith('E:') for t in tags)} error(s), "
          f"{sum(t.startswith('W:') for t in tags)} warning(s)")
    return r.returncode


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--build", default="build", help="the Meson build tree (default: build)")
    p.add_argument("--stage", help="pack this existing install destdir instead of installing")
    p.add_argument("-o", "--output", default="dist", help="where the .deb files go (dist)")
    p.add_argument("--package", action="append", metavar="NAME",
                   help="build only this package (repeatable)")
    p.add_argument("--lintian", action="store_true", help="check the packages with lintian")
    p.add_argument("--list", action="store_true", help="list the packages and exit")


def run(a: argparse.Namespace) -> int:
    if a.list:
        for p in PACKAGES:
            print(f"{p.name:<18} {p.synopsis}")
        return 0
    build = Path(a.build).resolve()
    stage = Path(a.stage).resolve() if a.stage else fresh_install(build, build / "deb" / "root")
    debs = build_packages(stage, Path(a.output).resolve(),
                          build=build if build.is_dir() else None, only=a.package)
    for deb in debs:
        print(deb)
    sys.stdout.flush()
    if a.lintian and lintian(debs) != 0:
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m hermit_build.deb", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    a = p.parse_args(argv)
    from .meta import DebError

    try:
        return run(a)
    except DebError as e:
        print(f"hermit deb: {e}", file=sys.stderr)
        return e.status
