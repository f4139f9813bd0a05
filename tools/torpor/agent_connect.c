/* The agent client's connection set-up: the VMM's vsock socket and its CONNECT / OK handshake. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent_int.h"

#define HANDSHAKE_LINE_MAX 64 /* the VMM's own limit for its lines */

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int agent_handshake_parse(const char *line, size_t len, char *err, size_t errlen)
{
	static const struct {
		const char *msg;
		int rc;
	} errs[] = {
		{ "connection refused", -ECONNRESET },
		{ "timed out", -ETIMEDOUT },
		{ "busy", -EAGAIN },
		{ "too many connections", -EAGAIN },
	};
	char text[HANDSHAKE_LINE_MAX + 1];
	size_t i;

	if (len && line[len - 1] == '\r')
		len--;
	if (len > HANDSHAKE_LINE_MAX)
		len = HANDSHAKE_LINE_MAX;
	/* Keep only printable bytes for messages: the line came from outside. */
	for (i = 0; i < len; i++)
		text[i] = line[i] >= 0x20 && line[i] < 0x7f ? line[i] : '?';
	text[len] = '\0';

	if (len > 3 && !memcmp(text, "OK ", 3)) {
		for (i = 3; i < len; i++)
			if (text[i] < '0' || text[i] > '9')
				break;
		if (i == len && len - 3 <= 10)
			return 0;
	}
	if (len > 4 && !memcmp(text, "ERR ", 4)) {
		for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
			if (!strcmp(text + 4, errs[i].msg)) {
				if (errs[i].rc == -ECONNRESET)
					agent__errf(err, errlen, "the guest refused vsock port %u "
						    "(is the agent running?)", AGENT_VSOCK_PORT);
				else
					agent__errf(err, errlen, "vsock: %s", text + 4);
				return errs[i].rc;
			}
		}
		agent__errf(err, errlen, "vsock: %s", text + 4);
		return -ECONNABORTED;
	}
	agent__errf(err, errlen, "not a torpor vsock socket (it answered \"%s\")", text);
	return -EPROTO;
}

static int dial(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		long long left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/*
 * Read the answer line into buf (up to cap bytes in all). Returns the bytes
 * read (line and whatever followed it) with *line_len the line's length
 * without '\n', or -errno.
 */
static ssize_t read_answer(int fd, char *buf, size_t cap, long long deadline, size_t *line_len)
{
	size_t have = 0;

	for (;;) {
		char *nl = memchr(buf, '\n', have);
		ssize_t n;
		int rc;

		if (nl) {
			*line_len = (size_t)(nl - buf);
			return (ssize_t)have;
		}
		if (have > HANDSHAKE_LINE_MAX)
			return -EPROTO;
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc < 0)
			return rc;
		n = read(fd, buf + have, cap - have);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		have += (size_t)n;
	}
}

int agent_connect(const char *uds, int timeout_ms, struct agent_conn **out, char *err,
		  size_t errlen)
{
	long long deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : AGENT_CONNECT_TIMEOUT_MS);
	char line[32], *buf;
	size_t line_len = 0;
	ssize_t got;
	int fd, rc, len;

	*out = NULL;
	fd = dial(uds);
	if (fd == -ENOENT) {
		agent__errf(err, errlen, "%s: no such socket (is torpor-vmm running with "
			    "--vsock uds=%s?)", uds, uds);
		return fd;
	}
	if (fd == -ECONNREFUSED) {
		agent__errf(err, errlen, "%s: nothing is listening (torpor-vmm has exited?)", uds);
		return fd;
	}
	if (fd < 0) {
		agent__errf(err, errlen, "%s: cannot connect: %s", uds, strerror(-fd));
		return fd;
	}
	len = snprintf(line, sizeof(line), "CONNECT %u\n", AGENT_VSOCK_PORT);
	if (send(fd, line, (size_t)len, MSG_NOSIGNAL) != len) {
		rc = -errno;
		agent__errf(err, errlen, "%s: cannot send CONNECT: %s", uds, strerror(-rc));
		close(fd);
		return rc;
	}
	buf = malloc(AGENT_INBUF);
	if (!buf) {
		close(fd);
		agent__errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	got = read_answer(fd, buf, AGENT_INBUF, deadline, &line_len);
	if (got < 0) {
		rc = (int)got;
		if (rc == -ETIMEDOUT)
			agent__errf(err, errlen, "%s: no answer to CONNECT %u within %d ms", uds,
				    AGENT_VSOCK_PORT,
				    timeout_ms > 0 ? timeout_ms : AGENT_CONNECT_TIMEOUT_MS);
		else if (rc == -ECONNRESET)
			agent__errf(err, errlen, "%s: the VMM closed the connection without an "
				    "answer", uds);
		else if (rc == -EPROTO)
			agent__errf(err, errlen, "%s: not a torpor vsock socket (no answer line)",
				    uds);
		else
			agent__errf(err, errlen, "%s: reading the answer: %s", uds, strerror(-rc));
		free(buf);
		close(fd);
		return rc;
	}
	rc = agent_handshake_parse(buf, line_len, err, errlen);
	if (rc < 0) {
		free(buf);
		close(fd);
		return rc;
	}
	*out = agent_conn_new(fd, buf + line_len + 1, (size_t)got - line_len - 1);
	free(buf);
	if (!*out) {
		agent__errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	return 0;
}
