"""The base of every error a user should read: one line with a hint, and an exit status."""

import sys


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop the guest like Ctrl-C does, but exit with status 143 (128 + 15)."""


def raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


class HermitError(Exception):
    """`status` is the exit status the command line tools use (1 unless said otherwise)."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


def say(text: str, stream=None) -> None:
    """Print a line for the user (stderr by default).  A stream that is closed or on a
    full disk loses the line but never changes the exit status."""
    out = sys.stderr if stream is None else stream
    if out is None:
        return
    try:
        print(text, file=out, flush=True)
    except (OSError, ValueError):
        pass
