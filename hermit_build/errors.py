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


class AbiMismatch(HermitError):
    """The image speaks another loader ABI than this loader (found in its ABI note
    before boot, or reported by its kernel at boot)."""

    STATUS = 126  # the shell's "found but cannot be executed"

    def __init__(self, image_version: int, loader_version: int, path: str | None = None):
        super().__init__(f"{path + ': ' if path else ''}image built for ABI {image_version}, "
                         f"loader speaks {loader_version}: rebuild the image with this SDK",
                         self.STATUS)


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
