/* The filesystems a Linux userland expects: /dev first, the rest once the console is up. */
#ifndef TORPOR_GUEST_INIT_MOUNTS_H
#define TORPOR_GUEST_INIT_MOUNTS_H

/*
 * Mount devtmpfs on /dev (creating /dev if needed). Already mounted (EBUSY)
 * counts as success. Returns 0 or -errno; prints nothing, since the console
 * does not exist before this.
 */
int mounts_dev(void);

/*
 * Mount proc, sysfs, tmpfs on /tmp and /run, devpts on /dev/pts and tmpfs on
 * /dev/shm, creating the directories, cgroup2 on /sys/fs/cgroup if the
 * kernel has it (/proc/filesystems), and add the /dev/fd and /dev/std*
 * links. Already mounted (EBUSY) is fine; any other failure prints one
 * warning line and the next mount is tried. Returns 0, or the first -errno.
 */
int mounts_rest(void);

/*
 * Make the root file system writable if it is mounted read-only and the
 * kernel command line did not ask for that (root_ro: 1 "ro" given, 0 "rw",
 * -1 neither; the kernel mounts a disk root read-only unless "rw" is given).
 * A failure (a read-only disk) prints one warning line. Returns 0 or -errno.
 */
int mounts_root_rw(int root_ro);

#endif
