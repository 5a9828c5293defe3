"""The one exception uhyve raises for anything the user should read."""


class UhyveError(Exception):
    """A failure to start or run the guest: one line of text that ends with a hint.

    `status` is the process exit status the CLI should use (124 for a timeout).
    """

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status
