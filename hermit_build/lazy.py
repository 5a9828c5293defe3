"""Late imports for the tools run as `python3 -S` (the loaders' fast start-up path)."""

import sys


def enable_site() -> None:
    """Add site-packages to sys.path, once, before importing pyelftools or jinja2."""
    if "site" not in sys.modules:
        import site

        site.main()
