"""Render the C view of the loader ABI: `python3 -m hermit_build.abi.gen_c OUT.h`.

`--shell` prints the constants and strings as NAME=VALUE lines instead
(HERMIT_KERNEL_BASE=0x200000), for shell scripts (the toolchain wrapper, tools/mklibhermit.sh)
to `eval`."""

import sys
from pathlib import Path

from .spec import CMDLINE, CONSTANTS, DEVICES, FORWARDED, HYPERCALLS, STRINGS, STRUCTS


def render() -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent.parent / "templates"),
        keep_trailing_newline=True,
    )
    env.filters["pow2"] = lambda i: 1 << i
    return env.get_template("abi.h.j2").render(
        constants=CONSTANTS, strings=STRINGS, hypercalls=HYPERCALLS, structs=STRUCTS,
        forwarded=FORWARDED, devices=DEVICES, cmdline=CMDLINE,
    )


def shell() -> str:
    lines = [f"HERMIT_{name}={value:#x}\n" for name, value in CONSTANTS.items()]
    for name, value in STRINGS.items():
        assert value.isidentifier(), value  # nothing for the shell to quote
        lines.append(f"HERMIT_{name}={value}\n")
    return "".join(lines)


def main(argv: list[str]) -> int:
    if argv == ["--shell"]:
        sys.stdout.write(shell())
        return 0
    if len(argv) != 1:
        print("usage: python3 -m hermit_build.abi.gen_c OUT.h | --shell", file=sys.stderr)
        return 2
    Path(argv[0]).write_text(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
