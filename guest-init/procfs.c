/* Reading small files from /proc: whole-file reads and /proc/uptime in milliseconds. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "procfs.h"

static int read_fd(int fd, char *buf, size_t size, size_t *len)
{
	size_t got = 0;
	char extra;

	while (got < size - 1) {
		ssize_t n = read(fd, buf + got, size - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*len = got;
	if (got == size - 1 && read(fd, &extra, 1) > 0)
		return -E2BIG;
	return 0;
}

int procfs_read(const char *path, char *buf, size_t size, size_t *len)
{
	int fd, rc;

	if (size == 0)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	rc = read_fd(fd, buf, size, len);
	close(fd);
	return rc;
}

/* "<seconds>[.<fraction>]..." → milliseconds; digits past the third decimal are dropped. */
static int parse_uptime_ms(const char *s, uint64_t *ms)
{
	uint64_t sec = 0, frac = 0;
	int scale = 100;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (sec > (UINT64_MAX - 999) / 1000 / 10)
			return -ERANGE;
		sec = sec * 10 + (uint64_t)(*s - '0');
	}
	if (sec > (UINT64_MAX - 999) / 1000)
		return -ERANGE;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
			frac += (uint64_t)(*s - '0') * (uint64_t)scale;
	*ms = sec * 1000 + frac;
	return 0;
}

static int boottime_ms(uint64_t *ms)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		return -errno;
	*ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	return 0;
}

int procfs_uptime_ms(uint64_t *ms)
{
	char buf[128];
	size_t len;
	int rc;

	rc = procfs_read("/proc/uptime", buf, sizeof(buf), &len);
	if (rc == 0)
		rc = parse_uptime_ms(buf, ms);
	if (rc == 0)
		return 0;
	pr_warn("/proc/uptime: %s; using CLOCK_BOOTTIME", strerror(-rc));
	return boottime_ms(ms);
}
