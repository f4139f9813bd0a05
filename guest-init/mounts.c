/* Mounting /dev, /proc, /sys, /tmp, /run, /dev/pts, /dev/shm, cgroup2, the /dev/fd links, root rw. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "mounts.h"
#include "procfs.h"

struct mnt {
	const char *source, *target, *fstype;
	unsigned long flags;
	const char *data;
	mode_t dir_mode; /* for mkdir when the target is missing */
};

static const struct mnt dev_mount = {
	"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", 0755,
};

static const struct mnt rest_mounts[] = {
	{ "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555 },
	{ "sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, 0555 },
	{ "tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 01777 },
	{ "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", 0755 },
	{ "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666",
	  0755 },
	{ "tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 01777 },
};

/* Mounted only if the kernel has it; the directory is sysfs's own. */
static const struct mnt cgroup2_mount = {
	"cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "nsdelegate",
	0755,
};

/* Links userland expects in /dev that devtmpfs does not make. */
static const char *const dev_links[][2] = {
	{ "/proc/self/fd", "/dev/fd" },
	{ "/proc/self/fd/0", "/dev/stdin" },
	{ "/proc/self/fd/1", "/dev/stdout" },
	{ "/proc/self/fd/2", "/dev/stderr" },
};

/* Returns 0 or -errno; *step is "mkdir: " if making the target failed, "" otherwise. */
static int do_mount(const struct mnt *m, const char **step)
{
	*step = "mkdir: ";
	if (mkdir(m->target, m->dir_mode) < 0 && errno != EEXIST)
		return -errno;
	*step = "";
	if (mount(m->source, m->target, m->fstype, m->flags, m->data) < 0 && errno != EBUSY)
		return -errno;
	return 0;
}

int mounts_dev(void)
{
	const char *step;

	return do_mount(&dev_mount, &step);
}

/* True if /proc/filesystems lists fstype (as "nodev\t<fstype>" or "\t<fstype>"). */
static bool kernel_has_fs(const char *fstype)
{
	char buf[2048], want[64];
	size_t len = 0;

	if (procfs_read("/proc/filesystems", buf, sizeof(buf), &len) < 0 && len == 0)
		return false;
	snprintf(want, sizeof(want), "\t%s\n", fstype);
	return strstr(buf, want) != NULL;
}

static int mount_warn(const struct mnt *m)
{
	const char *step;
	int rc = do_mount(m, &step);

	if (rc < 0)
		pr_warn("mount %s on %s: %s%s", m->fstype, m->target, step, strerror(-rc));
	return rc;
}

int mounts_rest(void)
{
	int rc, first = 0;
	size_t i;

	for (i = 0; i < sizeof(rest_mounts) / sizeof(rest_mounts[0]); i++) {
		rc = mount_warn(&rest_mounts[i]);
		first = first ? first : rc;
	}
	if (kernel_has_fs("cgroup2")) {
		rc = mount_warn(&cgroup2_mount);
		first = first ? first : rc;
	}
	for (i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++) {
		if (symlink(dev_links[i][0], dev_links[i][1]) < 0 && errno != EEXIST) {
			rc = -errno;
			pr_warn("symlink %s -> %s: %s", dev_links[i][1], dev_links[i][0],
				strerror(-rc));
			first = first ? first : rc;
		}
	}
	return first;
}

/* statvfs f_flag bits that are also mount flags, to keep them on the remount. */
static const struct {
	unsigned long st, ms;
} kept_flags[] = {
	{ ST_NOSUID, MS_NOSUID },     { ST_NODEV, MS_NODEV },
	{ ST_NOEXEC, MS_NOEXEC },     { ST_SYNCHRONOUS, MS_SYNCHRONOUS },
	{ ST_NOATIME, MS_NOATIME },   { ST_NODIRATIME, MS_NODIRATIME },
	{ ST_RELATIME, MS_RELATIME },
};

int mounts_root_rw(int root_ro)
{
	unsigned long flags = MS_REMOUNT;
	struct statvfs st;
	int rc;

	if (root_ro == 1 || statvfs("/", &st) < 0 || !(st.f_flag & ST_RDONLY))
		return 0;
	for (size_t i = 0; i < sizeof(kept_flags) / sizeof(kept_flags[0]); i++)
		if (st.f_flag & kept_flags[i].st)
			flags |= kept_flags[i].ms;
	if (mount(NULL, "/", NULL, flags, NULL) == 0)
		return 0;
	rc = -errno;
	pr_warn("remount / read-write: %s; the root stays read-only", strerror(-rc));
	return rc;
}
