/* guest-init's console messages: "torpor-init: " lines, one write(2) each; /dev/kmsg fallback. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LINE_MAX_BYTES 512

static const char *const level_prefix[] = {
	[INIT_LOG_ERR] = "error: ",
	[INIT_LOG_WARN] = "warning: ",
	[INIT_LOG_INFO] = "",
};

/* Write the whole buffer; returns 0 or -errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* No console: hand the line to the kernel log (as KERN_ERR, shown even with "quiet"). */
static void write_kmsg(const char *line, size_t len)
{
	char rec[LINE_MAX_BYTES + 4]; /* "<3>" + line + NUL */
	int n, fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return;
	n = snprintf(rec, sizeof(rec), "<3>%.*s", (int)len, line);
	write_all(fd, rec, (size_t)n < sizeof(rec) ? (size_t)n : sizeof(rec) - 1);
	close(fd);
}

void init_log(enum init_log_level level, const char *fmt, ...)
{
	char line[LINE_MAX_BYTES];
	size_t len;
	va_list ap;
	int n, fd = level == INIT_LOG_INFO ? STDOUT_FILENO : STDERR_FILENO;
	int saved_errno = errno;

	n = snprintf(line, sizeof(line), "torpor-init: %s", level_prefix[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	len = strlen(line); /* at most sizeof(line) - 1: the newline replaces the NUL */
	line[len++] = '\n';
	if (write_all(fd, line, len) == -EBADF && fd == STDERR_FILENO)
		write_kmsg(line, len);
	errno = saved_errno;
}
