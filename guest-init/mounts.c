/* Mounting /dev, /proc, /sys, /tmp, /run, /dev/pts and /dev/shm, and the /dev/fd links. */
#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mounts.h"

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

int mounts_rest(void)
{
	int rc, first = 0;
	size_t i;

	for (i = 0; i < sizeof(rest_mounts) / sizeof(rest_mounts[0]); i++) {
		const struct mnt *m = &rest_mounts[i];
		const char *step;

		rc = do_mount(m, &step);
		if (rc < 0) {
			pr_warn("mount %s on %s: %s%s", m->fstype, m->target, step, strerror(-rc));
			first = first ? first : rc;
		}
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
