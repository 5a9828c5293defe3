"""Host file access for the guest: the mount policy, the guest fd table, the file service."""
