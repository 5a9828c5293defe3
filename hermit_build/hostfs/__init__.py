"""Host file access for the guest: the mount table and its synthetic objects, the
resolver that walks guest paths from mount fds, the handle table, the file service."""
