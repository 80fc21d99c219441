// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/lib/bpffs.c - see bpffs.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include "bpffs.h"
#include "log.h"

static int not_bpffs(const char *dir)
{
	return log_err(-ENOTSUP, "%s is not on a BPF filesystem (mount -t bpf bpf %s)", dir,
		       ZDD_BPFFS_ROOT);
}

int zdd_bpffs_check(int fd, const char *dir)
{
	struct statfs st;

	if (fstatfs(fd, &st))
		return log_err(-errno, "statfs %s", dir);
	return st.f_type == BPF_FS_MAGIC ? 0 : not_bpffs(dir);
}

static void strip_slashes(char *path)
{
	size_t n = strlen(path);

	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
}

/* Cuts path back to its nearest existing ancestor, path itself if it exists: a directory not
 * created yet lands on the file system of the first one that is. */
static int existing_ancestor(char *path, struct statfs *st)
{
	char *slash;

	strip_slashes(path);
	while (statfs(path, st)) {
		if (errno != ENOENT)
			return log_err(-errno, "statfs %s", path);
		slash = strrchr(path, '/');
		if (!slash)
			strcpy(path, "."); /* a relative path's first component */
		else if (slash == path)
			path[1] = '\0';
		else
			*slash = '\0';
		strip_slashes(path);
	}
	return 0;
}

/* Two zdd commands started together on a fresh machine must not stack two BPF filesystems
 * (the first one's pins would vanish under the second): the check and the mount are made under
 * a lock on the mount point, and whoever takes it second sees the first one's mount. */
static int mount_bpffs(void)
{
	struct statfs st;
	int fd, err = 0;

	fd = open(ZDD_BPFFS_ROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return log_err(-errno, "open %s", ZDD_BPFFS_ROOT);
	if (flock(fd, LOCK_EX) || statfs(ZDD_BPFFS_ROOT, &st)) {
		err = -errno;
	} else if (st.f_type != BPF_FS_MAGIC) {
		/* The flags and mode systemd gives the one it mounts at boot. */
		if (mount("bpf", ZDD_BPFFS_ROOT, "bpf", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "mode=0700"))
			err = -errno;
		else
			pr_warn("zdd: no BPF filesystem was mounted on %s: mounted one\n",
				ZDD_BPFFS_ROOT);
	}
	close(fd); /* and the lock with it */
	if (err == -EPERM)
		return log_err(err,
			       "mount a BPF filesystem on %s (needs CAP_SYS_ADMIN, or mount -t "
			       "bpf bpf %s as root first)",
			       ZDD_BPFFS_ROOT, ZDD_BPFFS_ROOT);
	return err ? log_err(err, "mount a BPF filesystem on %s", ZDD_BPFFS_ROOT) : 0;
}

/* mkdir -p for the components of path past its first `from` characters (an existing
 * ancestor), each 0700: pins are root's alone. */
static int mkdirs(char *path, size_t from)
{
	char *p = path + from;
	int err;

	while (*p && (p = strchr(p + 1, '/'))) {
		*p = '\0';
		err = mkdir(path, 0700) && errno != EEXIST ? -errno : 0;
		if (err)
			return log_err(err, "create %s", path);
		*p = '/';
	}
	if (mkdir(path, 0700) && errno != EEXIST)
		return log_err(-errno, "create pin directory %s", path);
	return 0;
}

int zdd_bpffs_mkdir(const char *dir, bool may_mount)
{
	char want[PATH_MAX], have[PATH_MAX];
	struct statfs st;
	size_t from;
	int err;

	if ((size_t)snprintf(want, sizeof(want), "%s", dir) >= sizeof(want))
		return log_err(-ENAMETOOLONG, "pin directory %.64s...", dir);
	strip_slashes(want);
	strcpy(have, want);
	err = existing_ancestor(have, &st);
	if (err)
		return err;
	/* Only on the very mount point: a directory that exists below it is on something else an
	 * operator mounted there, and is not ours to cover. */
	if (st.f_type != BPF_FS_MAGIC) {
		if (!may_mount || strcmp(have, ZDD_BPFFS_ROOT))
			return not_bpffs(dir);
		err = mount_bpffs();
		if (err)
			return err;
	}
	from = strcmp(have, ".") ? strlen(have) : 0;
	return mkdirs(want, from);
}
