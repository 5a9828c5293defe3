"""Late imports for the tools run as `python3 -S` (the loaders' fast start-up path)."""

import sys

_site_done = False


def enable_site() -> None:
    """Add site-packages to sys.path, once, before importing pyelftools or jinja2.

    (Importing `site` under -S runs nothing, so whether it is in sys.modules does
    not say whether it ran: landlock.py imports it for its path functions.)"""
    global _site_done
    if sys.flags.no_site and not _site_done:
        import site

        site.main()
    _site_done = True
