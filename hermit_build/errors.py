"""The base of every error a user should read: one line with a hint, and an exit status."""


class HermitError(Exception):
    """`status` is the exit status the command line tools use (1 unless said otherwise)."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status
