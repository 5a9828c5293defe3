"""python3 -m hermit_build.deb: build the Debian packages (see hermit_build.deb)."""

import sys

from . import main

sys.exit(main())
