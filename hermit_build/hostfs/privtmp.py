"""The guest's private /tmp and /dev/shm: fresh host directories per run (in one
directory of the run's), gone when the run ends.

Host-backed rather than held in guest memory: the file service already gives it
every path call (rename, readdir, stat, symlinks, *at calls, chdir) with its
confinement, mmap(MAP_PRIVATE) works on it, and large temporary files cost host disk,
not HERMIT_MEM.  It must be gone even when the loader is killed (SIGKILL runs no
cleanup), so a reaper removes it: `sh` started before the loader confines itself
(Landlock would refuse it the execution and the removal of the directory), in a
session of its own (Ctrl-C to the terminal's process group does not stop it), waiting
on a pipe whose only writer is the loader.  The pipe reaches end-of-file however the
loader ends; the reaper then removes the directory.  A loader that ends normally
closes the pipe and waits for the reaper, so the directory is gone when it exits.
"""

import os

REAPER = 'read _; exec rm -rf -- "$0"'  # $0: the directory


class PrivateTmp:
    """The run's directory; `dir(name)` makes a subdirectory of it for one mount."""

    def __init__(self) -> None:
        base = os.environ.get("TMPDIR") or "/tmp"
        self.path = os.path.join(os.path.realpath(base),
                                 f"hermit-tmp-{os.getpid()}-{os.urandom(4).hex()}")
        os.mkdir(self.path, 0o700)
        r, self._w = os.pipe2(os.O_CLOEXEC)
        try:
            self.pid = os.posix_spawn(
                "/bin/sh", ["sh", "-c", REAPER, self.path], {"PATH": "/usr/bin:/bin"},
                file_actions=[(os.POSIX_SPAWN_DUP2, r, 0),
                              (os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0),
                              (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)],
                setsid=True)
        except OSError:
            os.close(self._w)
            os.rmdir(self.path)
            raise
        finally:
            os.close(r)

    def dir(self, name: str) -> str:
        path = os.path.join(self.path, name)
        os.mkdir(path, 0o700)
        return path

    def close(self) -> None:
        """Remove the directory now (the reaper does it and is reaped)."""
        if self._w >= 0:
            os.close(self._w)
            self._w = -1
            os.waitpid(self.pid, 0)
