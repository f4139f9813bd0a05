/* The app's output on the console: a line buffer and a non-blocking writer per pipe. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "applog.h"

void applog_init(struct applog *l, int in_fd, int out_fd, const char *prefix)
{
	memset(l, 0, sizeof(*l));
	l->in_fd = in_fd;
	l->out_fd = out_fd;
	l->plen = strnlen(prefix, sizeof(l->prefix) - 1);
	memcpy(l->prefix, prefix, l->plen);
}

/* Queue prefix + buf[0..n) + '\n' for writing and drop skip bytes from buf. */
static void emit(struct applog *l, size_t n, size_t skip)
{
	memcpy(l->out, l->prefix, l->plen);
	memcpy(l->out + l->plen, l->buf, n);
	l->out[l->plen + n] = '\n';
	l->ooff = 0;
	l->olen = l->plen + n + 1;
	memmove(l->buf, l->buf + skip, l->len - skip);
	l->len -= skip;
}

/* Write what is queued. True when all of it is out. */
static bool write_out(struct applog *l)
{
	while (l->ooff < l->olen) {
		ssize_t n = write(l->out_fd, l->out + l->ooff, l->olen - l->ooff);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return false;
		if (n <= 0)
			break; /* the console is broken: drop the line */
		l->ooff += (size_t)n;
	}
	l->ooff = l->olen = 0;
	return true;
}

/* Queue the next whole line in buf, or a cut one. False if there is none. */
static bool next_line(struct applog *l, bool pipe_empty)
{
	char *nl = memchr(l->buf, '\n', l->len);

	if (nl) {
		size_t n = (size_t)(nl - l->buf);

		emit(l, n && l->buf[n - 1] == '\r' ? n - 1 : n, n + 1);
		return true;
	}
	if (l->len == sizeof(l->buf) || (l->len && pipe_empty && (l->flush || l->eof))) {
		emit(l, l->len, l->len);
		return true;
	}
	return false;
}

enum applog_want applog_pump(struct applog *l)
{
	for (;;) {
		ssize_t n;

		if (!write_out(l))
			return APPLOG_WANT_OUT;
		if (next_line(l, false))
			continue;
		if (l->eof)
			return next_line(l, true) ? applog_pump(l) : APPLOG_IDLE;
		n = read(l->in_fd, l->buf + l->len, sizeof(l->buf) - l->len);
		if (n > 0) {
			l->len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || errno != EAGAIN) {
			l->eof = true;
			continue;
		}
		/* The pipe is empty for now. */
		if (next_line(l, true)) {
			l->flush = false;
			continue;
		}
		l->flush = false;
		return APPLOG_WANT_IN;
	}
}

void applog_flush(struct applog *l)
{
	l->flush = true;
}

size_t applog_pending(const struct applog *l)
{
	return l->len + (l->olen - l->ooff);
}
