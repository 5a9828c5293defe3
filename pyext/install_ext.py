"""Install a build-machine extension module under the prefix (DESTDIR-aware):
install_ext.py BUILT RELDIR.  Meson refuses to install native targets itself in a
cross build."""

import os
import shutil
import subprocess
import sys

built, reldir = sys.argv[1], sys.argv[2]
dest = os.path.join(os.environ["MESON_INSTALL_DESTDIR_PREFIX"], reldir)
os.makedirs(dest, exist_ok=True)
target = os.path.join(dest, os.path.basename(built))
shutil.copyfile(built, target)
os.chmod(target, 0o644)
# as Debian ships shared objects (the packages carry this file as installed)
subprocess.run(["strip", "--strip-unneeded", "--remove-section=.comment",
                "--remove-section=.note", target], check=True)
if not os.environ.get("MESON_INSTALL_QUIET"):
    print(f"Installing {built} to {dest}")
