/* The console as stdin/stdout/stderr, and handing it to a new session as its controlling tty. */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "console.h"

#define CONSOLE_PATH "/dev/console"

static int open_console(void)
{
	/* No O_CLOEXEC: with fds 0-2 closed, this fd is one of them. */
	int fd = open(CONSOLE_PATH, O_RDWR | O_NOCTTY);

	if (fd >= 0 || errno != ENOENT)
		return fd < 0 ? -errno : fd;
	if (mknod(CONSOLE_PATH, S_IFCHR | 0600, makedev(5, 1)) < 0 && errno != EEXIST)
		return -errno;
	fd = open(CONSOLE_PATH, O_RDWR | O_NOCTTY);
	return fd < 0 ? -errno : fd;
}

int console_setup(void)
{
	int fd = open_console();

	if (fd < 0)
		return fd;
	for (int i = 0; i <= STDERR_FILENO; i++) {
		if (i != fd && dup2(fd, i) < 0) {
			int rc = -errno;

			if (fd > STDERR_FILENO)
				close(fd);
			return rc;
		}
	}
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

int console_take_ctty(void)
{
	if (ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0)
		return -errno;
	return 0;
}
