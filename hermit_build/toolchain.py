"""The SDK's toolchain files: the installed cross-file and binutils names.

    python3 -m hermit_build.toolchain install --prefix /opt/hermit [--destdir D]
    python3 -m hermit_build.toolchain cross-file --prefix /opt/hermit -o FILE
"""

import argparse
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

CROSS_NAME = "x86_64-hermit"
BINUTILS = ["addr2line", "ar", "as", "ld", "nm", "objcopy", "objdump", "ranlib", "readelf",
            "size", "strings", "strip"]


def render_cross_file(prefix: str, cpu_flags: Sequence[str] = ()) -> str:
    """The cross-file for an SDK in prefix; cpu_flags (-mtune=, -march= from the Meson
    options of the build) become the default compiler arguments of projects using it."""
    for flag in cpu_flags:
        if not re.fullmatch(r"-m(tune|arch)=[A-Za-z0-9_.+-]+", flag):
            raise ValueError(f"not a CPU flag: {flag!r}")
    try:
        from .lazy import enable_site
    except ImportError:  # run as a script by Meson's install step
        from lazy import enable_site
    enable_site()
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        keep_trailing_newline=True,
    )
    return env.get_template("cross-file.ini.j2").render(prefix=prefix.rstrip("/") or "/",
                                                        name=CROSS_NAME,
                                                        cpu_flags=list(cpu_flags))


def install(prefix: str, destdir: str = "", cpu_flags: Sequence[str] = ()) -> list[Path]:
    """Write the cross-file (found by Meson by name under share/meson/cross) and
    x86_64-hermit-<tool> links to the host binutils."""
    root = Path(destdir + prefix) if destdir else Path(prefix)
    written = []
    text = render_cross_file(prefix, cpu_flags)
    for rel in (f"share/meson/cross/{CROSS_NAME}", f"share/hermit/{CROSS_NAME}.ini"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    bindir = root / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for tool in BINUTILS:
        target = shutil.which(tool) or f"/usr/bin/{tool}"
        link = bindir / f"x86_64-hermit-{tool}"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
        written.append(link)
    # Byte-compile the loader: the proxy should not pay for compiling at every start.
    import compileall

    pydir = root / "lib" / "hermit" / "python"
    if pydir.is_dir():
        compileall.compile_dir(str(pydir), quiet=1, ddir=f"{prefix}/lib/hermit/python")
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hermit_build.toolchain")
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("install", help="cross-file and binutils links into an install tree")
    i.add_argument("--prefix", required=True)
    i.add_argument("--destdir", default=os.environ.get("DESTDIR", ""),
                   help="staging root (Meson's install scripts get it as $DESTDIR)")
    i.add_argument("--cpu-flag", action="append", default=[], dest="cpu_flags",
                   help="-mtune=CPU or -march=ISA for projects using the cross-file")
    c = sub.add_parser("cross-file", help="print or write the cross-file for a prefix")
    c.add_argument("--prefix", required=True)
    c.add_argument("-o", "--output")
    a = p.parse_args(argv)
    try:
        if a.cmd == "install":
            install(a.prefix, a.destdir, a.cpu_flags)
        elif a.output:
            Path(a.output).write_text(render_cross_file(a.prefix))
        else:
            sys.stdout.write(render_cross_file(a.prefix))
    except ValueError as e:  # a Meson option mtune/march that is no CPU name
        print(f"hermit_build.toolchain: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
