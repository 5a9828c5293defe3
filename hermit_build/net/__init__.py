"""The guest's network on the host: user-mode networking (libslirp) for uhyve's NIC,
QEMU's `-netdev user` arguments, port forwards, the host-port filter and captures."""

import os

USER_DNS = "10.0.2.3"  # the DNS relay of user-mode networking (libslirp's, QEMU's -netdev user)

# Where the dynamic loader finds libslirp and glib: readable after the loader confines
# itself (landlock.py), since libslirp loads at the guest's first HC_NET_OPEN.
_LIB_PATHS = ("/etc/ld.so.cache", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
              "/lib64", "/usr/lib64")


def library_reads() -> list[str]:
    return [p for p in _LIB_PATHS if os.path.exists(p)]


def resolv_conf(tap) -> bytes:
    """The guest's /etc/resolv.conf when it has a network: the tap network's name
    server (tap.py), else user-mode networking's relay."""
    if tap is not None:
        return tap.resolv_conf()
    return f"# hermit: user-mode networking's DNS relay\nnameserver {USER_DNS}\n".encode()
