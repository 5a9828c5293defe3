"""The SDK's toolchain files: the installed cross-file and binutils names.

    python3 -m hermit_build.toolchain install --prefix /opt/hermit [--destdir D]
    python3 -m hermit_build.toolchain cross-file --prefix /opt/hermit -o FILE
"""

import argparse
import os
import shutil
import sys
from pathlib import Path

CROSS_NAME = "x86_64-hermit"
BINUTILS = ["addr2line", "ar", "as", "ld", "nm", "objcopy", "objdump", "ranlib", "readelf",
            "size", "strings", "strip"]


def render_cross_file(prefix: str) -> str:
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
                                                        name=CROSS_NAME)


def install(prefix: str, destdir: str = "") -> list[Path]:
    """Write the cross-file (found by Meson by name under share/meson/cross) and
    x86_64-hermit-<tool> links to the host binutils."""
    root = Path(destdir + prefix) if destdir else Path(prefix)
    written = []
    text = render_cross_file(prefix)
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
    c = sub.add_parser("cross-file", help="print or write the cross-file for a prefix")
    c.add_argument("--prefix", required=True)
    c.add_argument("-o", "--output")
    a = p.parse_args(argv)
    if a.cmd == "install":
        install(a.prefix, a.destdir)
    elif a.output:
        Path(a.output).write_text(render_cross_file(a.prefix))
    else:
        sys.stdout.write(render_cross_file(a.prefix))
    return 0


if __name__ == "__main__":
    sys.exit(main())
