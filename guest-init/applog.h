/*
 * The app's output on the console: bytes from a pipe cut into lines, each
 * written with a prefix ("app: "), never blocking. A line that does not fit
 * the console waits (and the pipe is not read meanwhile, so the app, not
 * PID 1, blocks); a line longer than APPLOG_LINE_MAX is cut into several.
 */
#ifndef TORPOR_GUEST_INIT_APPLOG_H
#define TORPOR_GUEST_INIT_APPLOG_H

#include <stdbool.h>
#include <stddef.h>

#define APPLOG_LINE_MAX 1024  /* bytes of a line without its prefix and newline */
#define APPLOG_PREFIX_MAX 32

struct applog {
	int in_fd;  /* the pipe's read end, O_NONBLOCK */
	int out_fd; /* the console, O_NONBLOCK */
	char prefix[APPLOG_PREFIX_MAX];
	size_t plen;
	char buf[APPLOG_LINE_MAX]; /* read, not yet written (may hold several lines) */
	size_t len;
	char out[APPLOG_PREFIX_MAX + APPLOG_LINE_MAX + 1]; /* the line being written */
	size_t ooff, olen;
	bool flush; /* write a partial last line once the pipe is empty */
	bool eof;   /* the pipe's write ends are all closed */
};

/* What applog_pump() waits for next. */
enum applog_want {
	APPLOG_WANT_IN,   /* poll in_fd for POLLIN */
	APPLOG_WANT_OUT,  /* poll out_fd for POLLOUT */
	APPLOG_IDLE,      /* end of file and everything written */
};

/* Set up l; prefix is cut to APPLOG_PREFIX_MAX - 1 bytes. */
void applog_init(struct applog *l, int in_fd, int out_fd, const char *prefix);

/*
 * Read from the pipe and write lines to the console until one of them would
 * block. A write error other than EAGAIN drops the line being written (the
 * console must never wedge the app). Returns what to wait for.
 */
enum applog_want applog_pump(struct applog *l);

/*
 * Ask for a partial last line (no newline yet) to be written, with a newline
 * added, as soon as the pipe has nothing more: the app has exited.
 */
void applog_flush(struct applog *l);

/* Bytes read but not yet written (0: nothing pending). */
size_t applog_pending(const struct applog *l);

#endif
