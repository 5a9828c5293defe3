"""The one exception uhyve raises for anything the user should read."""

from ..errors import HermitError


class UhyveError(HermitError):
    """A failure to start or run the guest: one line of text that ends with a hint.

    `status` is the process exit status the CLI should use (124 for a timeout).
    """
