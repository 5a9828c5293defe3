"""Start and stop the QEMU process (posix_spawn + pidfd: no subprocess import on the boot path)."""

import os
import signal

from .command import QEMU, QemuError

SETPRIV = "/usr/bin/setpriv"  # util-linux (Essential on Debian)


def find_qemu(name: str = QEMU) -> str:
    for d in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(d or ".", name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    raise QemuError("QEMU not found: install it with apt-get install qemu-system-x86")


class Qemu:
    """A running QEMU.  `pidfd` turns readable when it exits; `stderr` is a pipe from its stderr.

    QEMU gets /dev/null as stdin and stdout and inherits only the descriptors in
    `pass_fds`.  With setpriv it also dies with the runner, even on SIGKILL, runs with
    no_new_privs and without the file-system capabilities (privs.FS_CAPS).
    """

    def __init__(self, argv: list[str], pass_fds: list[int]):
        argv = [find_qemu(argv[0]), *argv[1:]]
        if os.access(SETPRIV, os.X_OK):
            from ..privs import setpriv_fs_caps

            # no root's permission override in QEMU either (it reads the image)
            argv = [SETPRIV, "--pdeathsig", "KILL", "--no-new-privs", *setpriv_fs_caps(),
                    "--", *argv]
        rd, wr = os.pipe()
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, wr, 2),
        ]
        for fd in pass_fds:
            os.set_inheritable(fd, True)
        try:
            self.pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        except OSError as e:
            os.close(rd)
            raise QemuError(f"cannot start QEMU: {e}") from None
        finally:
            os.close(wr)
            for fd in pass_fds:
                os.set_inheritable(fd, False)
        self.stderr = rd
        self.pidfd = os.pidfd_open(self.pid)
        self.status: int | None = None

    def reap(self) -> int:
        """Wait for QEMU to end; its exit status, or -signal if a signal ended it."""
        if self.status is None:
            _, st = os.waitpid(self.pid, 0)
            self.status = os.waitstatus_to_exitcode(st)
        return self.status

    def kill(self) -> None:
        if self.status is None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.reap()

    def close(self) -> None:
        self.kill()
        for fd in (self.stderr, self.pidfd):
            os.close(fd)
