"""What every package shares: the version (from the Meson project), the timestamp of the
build (SOURCE_DATE_EPOCH), the maintainer, and the Debian packages linked into images."""

import json
import os
import re
import subprocess
from pathlib import Path

from ..errors import HermitError

DEFAULT_MAINTAINER = "hermit developers <dev@hermit.invalid>"


class DebError(HermitError):
    """Packaging cannot go on: one line that says what to do."""


def source_dir(build: Path | None, default: Path) -> Path:
    """The source tree a Meson build tree was configured from (or `default`)."""
    info = build / "meson-info" / "meson-info.json" if build is not None else None
    if info is not None and info.is_file():
        return Path(json.loads(info.read_text())["directories"]["source"])
    return default


def meson_version(build: Path | None, source: Path) -> str:
    """The project version: Meson's introspection data of the build tree (what
    `meson introspect --projectinfo` prints), else the project() call in meson.build."""
    if build is not None:
        info = build / "meson-info" / "intro-projectinfo.json"
        if info.is_file():
            return str(json.loads(info.read_text())["version"])
    try:
        text = (source / "meson.build").read_text()
    except OSError:
        raise DebError(f"no Meson build tree given and no meson.build in {source}; "
                       "use --build") from None
    m = re.search(r"project\s*\((?:[^()]|\([^()]*\))*?\bversion\s*:\s*'([^']+)'", text)
    if not m:
        raise DebError(f"no version in {source / 'meson.build'}; set project(..., version: 'X')")
    return m.group(1)


def debian_version(version: str) -> str:
    """A Meson version as a Debian (native) version: a pre-release sorts before the release."""
    v = version.strip().replace("-", "~")
    if not re.fullmatch(r"[0-9][A-Za-z0-9.+~]*", v):
        raise DebError(f"the Meson version {version!r} is not usable as a Debian version")
    return v


def source_date_epoch(source: Path) -> int:
    """SOURCE_DATE_EPOCH if set, else the time of the last commit, else meson.build's mtime."""
    env = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if env:
        if not env.isdigit():
            raise DebError(f"SOURCE_DATE_EPOCH={env!r} is not a number of seconds")
        return int(env)
    try:
        r = subprocess.run(["git", "-C", str(source), "log", "-1", "--format=%ct"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode == 0 and r.stdout.strip().isdigit():
            return int(r.stdout.strip())
    except OSError:
        pass
    try:
        return int((source / "meson.build").stat().st_mtime)
    except OSError:
        raise DebError(f"no git history or meson.build in {source}; "
                       "set SOURCE_DATE_EPOCH") from None


def maintainer() -> str:
    """DEBFULLNAME and DEBEMAIL, as Debian's tools read them, else the project's name."""
    name, email = os.environ.get("DEBFULLNAME", ""), os.environ.get("DEBEMAIL", "")
    if "<" in email:
        return email
    if name and email:
        return f"{name} <{email}>"
    return DEFAULT_MAINTAINER


def _dpkg_query(*args: str) -> str:
    try:
        r = subprocess.run(["dpkg-query", *args], capture_output=True, text=True, timeout=30)
    except OSError:
        return ""
    return r.stdout.strip() if r.returncode == 0 else ""


def _owning_package(path: str) -> str:
    for candidate in (path, os.path.realpath(path)):
        out = _dpkg_query("-S", candidate)
        if out:
            return out.split(":")[0].split(",")[0].strip()
    return ""


def static_built_using(cc: str = "gcc") -> list[str]:
    """Source packages (with versions) whose static libraries every image embeds:
    musl's libc.a and GCC's libgcc.a. Empty when dpkg does not know them."""
    paths = ["/usr/lib/x86_64-linux-musl/libc.a"]
    try:
        r = subprocess.run([cc, "-print-libgcc-file-name"], capture_output=True, text=True,
                           timeout=30)
        if r.returncode == 0:
            paths.append(r.stdout.strip())
    except OSError:
        pass
    found = []
    for path in paths:
        pkg = _owning_package(path) if os.path.exists(path) else ""
        fmt = "--showformat=${source:Package} (= ${source:Version})"
        info = _dpkg_query("-W", fmt, pkg) if pkg else ""
        if info and info not in found:
            found.append(info)
    return sorted(found)
