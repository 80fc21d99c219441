/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* userspace/lib/bpffs.h - the pin directory's file system: pins live only on a BPF one, which a
 * fresh machine may not have mounted on /sys/fs/bpf yet. */
#ifndef ZDD_BPFFS_H
#define ZDD_BPFFS_H

#include <stdbool.h>

#define ZDD_BPFFS_ROOT "/sys/fs/bpf"

/* Creates dir and its missing parents (mode 0700) on a BPF filesystem. When the nearest
 * existing one is not on a BPF filesystem, dir is under ZDD_BPFFS_ROOT and may_mount is set,
 * mounts one on ZDD_BPFFS_ROOT first and says so; -ENOTSUP or the mount's error otherwise. */
int zdd_bpffs_mkdir(const char *dir, bool may_mount);
/* 0 when fd (dir, opened) is on a BPF filesystem; -ENOTSUP, said why, when not. */
int zdd_bpffs_check(int fd, const char *dir);

#endif /* ZDD_BPFFS_H */
