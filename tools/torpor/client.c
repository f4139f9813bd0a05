/* The API client: HTTP/1.1 over a Unix socket, responses parsed by vmm/http.c. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "http.h"

static int __attribute__((format(printf, 4, 5)))
errf(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A connected socket, or -errno. */
static int dial(const char *sock)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(sock) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, sock);
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

/* Wait for events on fd until the deadline. Returns 0 or -ETIMEDOUT/-errno. */
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

static int send_all(int fd, const char *buf, size_t len, long long deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n < 0) {
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc < 0)
				return rc;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int recv_response(int fd, struct http_msg *m, long long deadline)
{
	char buf[4096];

	for (;;) {
		ssize_t n;
		int rc = wait_fd(fd, POLLIN, deadline);

		if (rc < 0)
			return rc;
		n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		rc = http_msg_feed(m, n ? buf : NULL, (size_t)n, NULL);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
}

int api_call(const char *sock, const char *method, const char *path, const char *json_body,
	     struct api_response *r, char *err, size_t errlen)
{
	long long deadline = now_ms() + API_TIMEOUT_MS;
	struct http_msg m;
	size_t len;
	char *req;
	int fd, rc;

	memset(r, 0, sizeof(*r));
	fd = dial(sock);
	if (fd == -ENOENT)
		return errf(fd, err, errlen, "%s: no such socket (is torpor-vmm running with "
				"--control %s?)", sock, sock);
	if (fd == -ECONNREFUSED)
		return errf(fd, err, errlen, "%s: nothing is listening (torpor-vmm has exited?)",
			    sock);
	if (fd < 0)
		return errf(fd, err, errlen, "%s: cannot connect: %s", sock, strerror(-fd));

	req = http_request_format(method, path, json_body, &len);
	if (!req) {
		close(fd);
		return errf(-ENOMEM, err, errlen, "out of memory");
	}
	rc = send_all(fd, req, len, deadline);
	free(req);
	if (rc < 0) {
		close(fd);
		return errf(rc, err, errlen, "%s: cannot send the request: %s", sock,
			    strerror(-rc));
	}

	http_msg_init(&m, HTTP_RESPONSE, API_MAX_BODY);
	rc = recv_response(fd, &m, deadline);
	close(fd);
	if (rc == -ETIMEDOUT)
		errf(rc, err, errlen, "%s: no response within %d s", sock, API_TIMEOUT_MS / 1000);
	else if (rc < 0 && m.errmsg)
		errf(rc, err, errlen, "%s: bad response: %s", sock, m.errmsg);
	else if (rc < 0)
		errf(rc, err, errlen, "%s: reading the response: %s", sock, strerror(-rc));
	if (rc < 0) {
		http_msg_free(&m);
		return rc;
	}
	r->status = m.status;
	r->body = m.body; /* ownership moves to r */
	r->body_len = m.body_len;
	return 0;
}

void api_response_free(struct api_response *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}

const char *api_error(const struct api_response *r, char *buf, size_t len)
{
	json_t *root = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
	json_t *e = json_object_get(root, "error");

	if (json_is_string(e))
		snprintf(buf, len, "%s", json_string_value(e));
	else
		snprintf(buf, len, "%d %s", r->status, http_reason(r->status));
	json_decref(root);
	return buf;
}

int api_wait_gone(const char *sock, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;

	/*
	 * Hold a connection until the server's end closes (its listener or the
	 * accepted connection), then check that nothing listens any more: a
	 * live server may just have timed our idle connection out.
	 */
	for (;;) {
		int fd = dial(sock), rc;
		char c;

		if (fd == -ECONNREFUSED || fd == -ENOENT)
			return 0;
		if (fd < 0)
			return fd;
		do {
			rc = wait_fd(fd, POLLIN, deadline);
		} while (rc == 0 && read(fd, &c, 1) > 0);
		close(fd);
		if (rc < 0)
			return rc;
	}
}
