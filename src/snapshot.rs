//! Container filesystems: overlay2 layer directories and mounts.
