"""Lay out each package's tree from the install tree and pack it with dpkg-deb.

Reproducible by construction: files are copied with normalised modes (0755 or
0644), every mtime is SOURCE_DATE_EPOCH, owners are root (--root-owner-group),
dpkg-deb sorts the members and uses one compressor thread, and the texts the
packaging adds are rendered from templates with no clock or host name in them.
"""

import gzip
import hashlib
import os
import shutil
import subprocess
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..abi import C
from . import binfmt
from .layout import CROSS_NAME, PACKAGES, PREFIX, SOURCE, Package, owner, skipped
from .meta import DebError

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "deb"
BINFMT_CONF = "/usr/lib/binfmt.d/hermit.conf"

if TYPE_CHECKING:
    import jinja2


@dataclass
class BuildInfo:
    version: str  # the Debian version
    upstream_version: str  # the Meson project's
    epoch: int  # SOURCE_DATE_EPOCH
    maintainer: str
    built_using: list[str]  # for packages whose images embed musl and libgcc


def _templates() -> "jinja2.Environment":
    from ..lazy import enable_site

    enable_site()
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def _context(info: BuildInfo, pkg: Package) -> dict[str, object]:
    return {
        "name": pkg.name, "source": SOURCE, "prefix": PREFIX, "version": info.version,
        "upstream_version": info.upstream_version, "maintainer": info.maintainer,
        "year": time.gmtime(info.epoch).tm_year, "static": pkg.static_built_using,
        "date": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(info.epoch)),
        "binfmt_rule": binfmt.rule(f"{PREFIX}/bin/proxy"), "binfmt_name": binfmt.NAME,
        "binfmt_conf": BINFMT_CONF, "image_osabi": f"{C.IMAGE_OSABI:#x}",
    }


def assign(sdk: Path) -> dict[str, list[str]]:
    """Paths (relative to the prefix) of the install tree's files, by package."""
    if not sdk.is_dir():
        raise DebError(f"no install tree at {sdk}; run `meson install --destdir` first")
    by_pkg: dict[str, list[str]] = {p.name: [] for p in PACKAGES}
    unclaimed = []
    for dirpath, dirnames, filenames in os.walk(sdk):
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in filenames + links:
            rel = (Path(dirpath) / name).relative_to(sdk).as_posix()
            if skipped(rel):
                continue
            pkg = owner(rel)
            if pkg is None:
                unclaimed.append(rel)
            else:
                by_pkg[pkg.name].append(rel)
    if unclaimed:
        raise DebError(f"{len(unclaimed)} installed file(s) belong to no package, first "
                       f"{PREFIX}/{sorted(unclaimed)[0]}; claim them in hermit_build/deb/layout.py")
    if not any(by_pkg.values()):
        raise DebError(f"the install tree {sdk} is empty")
    return {k: sorted(v) for k, v in by_pkg.items()}


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.is_symlink():
        dest.symlink_to(os.readlink(src))
        return
    shutil.copyfile(src, dest)
    dest.chmod(0o755 if os.stat(src).st_mode & 0o111 else 0o644)


def _write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)


def _gzip(text: str) -> bytes:
    return gzip.compress(text.encode(), compresslevel=9, mtime=0)


def _description(pkg: Package) -> list[str]:
    lines: list[str] = []
    for para in pkg.description.split("\n\n"):
        wrapped = textwrap.wrap(para, width=72, break_on_hyphens=False)
        if any(line.startswith(".") for line in wrapped):  # would be a control statement
            raise DebError(f"a line of {pkg.name}'s description starts with '.'; reword it")
        lines += (["."] if lines else []) + wrapped
    return lines


def _installed_size(tree: Path) -> int:
    """In KiB, counted as dpkg-gencontrol does: each file rounded up, 1 per other entry."""
    kib = 0
    for path in tree.rglob("*"):
        if path.relative_to(tree).parts[0] == "DEBIAN":
            continue
        if path.is_file() and not path.is_symlink():
            kib += (path.stat().st_size + 1023) // 1024
        else:
            kib += 1
    return kib


def _relations(pkg: Package, info: BuildInfo) -> list[tuple[str, str]]:
    fields = [("Depends", pkg.depends), ("Recommends", pkg.recommends),
              ("Suggests", pkg.suggests)]
    out = [(f, ", ".join(r.format(version=info.version) for r in rel)) for f, rel in fields if rel]
    if pkg.static_built_using and info.built_using:
        out.append(("Static-Built-Using", ", ".join(info.built_using)))
    musl = [b for b in info.built_using if b.startswith("musl ")]
    if pkg.built_using_musl and musl:
        out.append(("Built-Using", ", ".join(musl)))
    return out


def _md5sums(tree: Path) -> str:
    lines = []
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree)
        if rel.parts[0] != "DEBIAN" and path.is_file() and not path.is_symlink():
            lines.append(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {rel.as_posix()}\n")
    return "".join(lines)


def _normalise(tree: Path, epoch: int) -> None:
    for dirpath, dirnames, filenames in os.walk(tree, topdown=False):
        for name in filenames + dirnames:
            path = Path(dirpath) / name
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
            os.utime(path, (epoch, epoch), follow_symlinks=False)
    tree.chmod(0o755)
    os.utime(tree, (epoch, epoch))


def lay_out(pkg: Package, files: list[str], sdk: Path, tree: Path, info: BuildInfo) -> None:
    """Fill `tree` with the package's files, the generated ones and DEBIAN/."""
    env = _templates()
    ctx = _context(info, pkg)
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    root = PREFIX.lstrip("/")
    for rel in files:
        _copy(sdk / rel, tree / root / rel)
    for gen in pkg.generated:
        _write(tree / gen.path.lstrip("/"), env.get_template(gen.template).render(ctx), gen.mode)
    for link, target in pkg.links:
        (tree / link.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
        (tree / link.lstrip("/")).symlink_to(target)
    doc = tree / "usr/share/doc" / pkg.name
    musl = f"{CROSS_NAME}/lib/libc.COPYRIGHT"
    ctx["musl_copyright"] = ((sdk / musl).read_text().rstrip().splitlines()
                             if musl in files else [])
    # lwIP is linked into libhermit.a and so into every image (the packages with
    # images under extra, and the one with libhermit.a)
    lwip = f"{CROSS_NAME}/lib/lwip.COPYRIGHT"
    embeds = [f for f in files if f.endswith("/libhermit.a") or f.startswith("extra/")]
    ctx["lwip_copyright"] = ((sdk / lwip).read_text().rstrip().splitlines()
                             if embeds and (sdk / lwip).is_file() else [])
    ctx["lwip_files"] = (f"{CROSS_NAME}/lib/libhermit.a" if f"{CROSS_NAME}/lib/libhermit.a" in files
                         else "extra/*")
    _write(doc / "copyright", env.get_template("copyright.j2").render(ctx))
    _write(doc / "changelog.gz", _gzip(env.get_template("changelog.j2").render(ctx)))
    overrides = env.get_template("lintian-overrides.j2").render(ctx)
    if overrides.strip():
        _write(tree / "usr/share/lintian/overrides" / pkg.name, overrides)
    control = tree / "DEBIAN"
    for script in pkg.scripts:
        _write(control / script, env.get_template(f"{pkg.name}.{script}.j2").render(ctx), 0o755)
    _write(control / "md5sums", _md5sums(tree))
    ctx.update(architecture=pkg.architecture, section=pkg.section, synopsis=pkg.synopsis,
               description=_description(pkg), relations=_relations(pkg, info),
               installed_size=_installed_size(tree))
    _write(control / "control", env.get_template("control.j2").render(ctx))
    _normalise(tree, info.epoch)


def pack(tree: Path, out: Path, info: BuildInfo) -> None:
    """dpkg-deb with root ownership, sorted members and mtimes clamped to the epoch."""
    if not shutil.which("dpkg-deb"):
        raise DebError("dpkg-deb is not installed; apt-get install dpkg")
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(info.epoch), LC_ALL="C.UTF-8")
    out.parent.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "-z9", "--threads-max=1",
                        "--build", str(tree), str(out)], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        last = (r.stderr.strip() or r.stdout.strip()).splitlines()
        raise DebError(f"dpkg-deb failed for {tree.name}: {last[-1] if last else r.returncode}")


def deb_name(pkg: Package, info: BuildInfo) -> str:
    return f"{pkg.name}_{info.version}_{pkg.architecture}.deb"


def build_all(sdk: Path, dist: Path, work: Path, info: BuildInfo,
              only: list[str] | None = None) -> list[Path]:
    """Every package (or the named ones) from the install tree's prefix `sdk` into `dist`."""
    files = assign(sdk)
    built = []
    for pkg in PACKAGES:
        if only and pkg.name not in only:
            continue
        tree = work / pkg.name
        lay_out(pkg, files[pkg.name], sdk, tree, info)
        out = dist / deb_name(pkg, info)
        pack(tree, out, info)
        built.append(out)
    return built
