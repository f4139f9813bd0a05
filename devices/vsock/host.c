/* vsock host side: Unix listening socket, CONNECT handshakes, one socket per stream. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "host.h"
#include "line.h"
#include "log.h"

#define EVENTS_PER_POLL	 64
#define ACCEPTS_PER_POLL 16
#define STREAM_EVENTS	 (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

enum hs_kind { HS_LISTEN, HS_TIMER, HS_LINE, HS_STREAM };

/* One fd on our epoll set. */
struct hsock {
	enum hs_kind kind;
	int fd;
	struct vsock_conn *conn; /* HS_STREAM: NULL once the core released it */
	bool waiting;		 /* on the handshake list: LINE, or STREAM before OK */
	bool rdhup;		 /* the peer shut its side (or failed): read on to EOF */
	bool more;		 /* LINE: bytes followed the CONNECT line */
	uint64_t deadline_ms;
	struct hsock *prev, *next; /* handshake list */
	struct hsock *znext;	   /* closed, to free after the current batch */
	char line[VSOCK_LINE_MAX];
	size_t line_len;
};

struct vsock_host {
	struct evloop *el;
	struct vsock_core *core;
	pthread_mutex_t *lock;
	vsock_kick_fn kick;
	void *kick_opaque;
	char *path;
	dev_t dev;
	ino_t ino;
	int epfd;
	struct hsock listen, timer;
	bool listen_paused, timer_armed, in_poll;
	struct hsock *waiting; /* handshakes: LINE, and STREAM until OK */
	unsigned int nr_lines; /* LINE ones */
	struct hsock *zombies;
	unsigned int line_timeout_ms, connect_timeout_ms;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void timer_arm(struct vsock_host *vh, bool on)
{
	struct itimerspec its = {0};

	if (on == vh->timer_armed)
		return;
	if (on)
		its.it_value.tv_nsec = its.it_interval.tv_nsec = 250 * 1000000;
	if (timerfd_settime(vh->timer.fd, 0, &its, NULL) < 0)
		pr_warn("vsock: timerfd_settime: %s", strerror(errno));
	vh->timer_armed = on;
}

static void waiting_add(struct vsock_host *vh, struct hsock *hs, uint64_t timeout_ms)
{
	hs->deadline_ms = now_ms() + timeout_ms;
	if (hs->waiting)
		return;
	hs->prev = NULL;
	hs->next = vh->waiting;
	if (vh->waiting)
		vh->waiting->prev = hs;
	vh->waiting = hs;
	hs->waiting = true;
	timer_arm(vh, true);
}

static void waiting_del(struct vsock_host *vh, struct hsock *hs)
{
	if (!hs->waiting)
		return;
	if (hs->prev)
		hs->prev->next = hs->next;
	else
		vh->waiting = hs->next;
	if (hs->next)
		hs->next->prev = hs->prev;
	hs->prev = hs->next = NULL;
	hs->waiting = false;
}

/* Best effort: the client may be gone or its buffer full; it gets EOF right after anyway. */
static void send_line(int fd, const char *s)
{
	ssize_t r = send(fd, s, strlen(s), MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)r;
}

static void listen_resume(struct vsock_host *vh)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &vh->listen};

	if (!vh->listen_paused)
		return;
	if (epoll_ctl(vh->epfd, EPOLL_CTL_MOD, vh->listen.fd, &ev) == 0)
		vh->listen_paused = false;
}

/* Close hs; its memory goes once no event of the current batch can name it. */
static void hsock_close(struct vsock_host *vh, struct hsock *hs)
{
	if (hs->kind == HS_LINE)
		vh->nr_lines--;
	waiting_del(vh, hs);
	close(hs->fd);
	hs->fd = -1;
	listen_resume(vh);
	if (vh->in_poll) {
		hs->znext = vh->zombies;
		vh->zombies = hs;
	} else {
		free(hs);
	}
}

static struct hsock *hsock_new(struct vsock_host *vh, enum hs_kind kind, int fd)
{
	struct hsock *hs = calloc(1, sizeof(*hs));
	struct epoll_event ev = {.events = STREAM_EVENTS};

	if (!hs)
		return NULL;
	hs->kind = kind;
	hs->fd = fd;
	ev.data.ptr = hs;
	if (epoll_ctl(vh->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(hs);
		return NULL;
	}
	return hs;
}

/* --- struct vsock_host_ops --- */

static int op_connect(void *opaque, struct vsock_conn *c, uint32_t port, void **host)
{
	struct vsock_host *vh = opaque;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct hsock *hs;
	int fd, n, rc;

	n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s_%u", vh->path, port);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* AF_UNIX connects at once or fails (EAGAIN: backlog full, taken as a refusal). */
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	hs = hsock_new(vh, HS_STREAM, fd);
	if (!hs) {
		close(fd);
		return -ENOMEM;
	}
	hs->conn = c;
	*host = hs;
	return 0;
}

static int op_established(void *opaque, void *host, struct vsock_conn *c)
{
	struct vsock_host *vh = opaque;
	struct hsock *hs = host;
	char buf[32];
	int len = vsock_line_format_ok(buf, sizeof(buf), c->host_port);

	waiting_del(vh, hs);
	/* A fresh socket's buffer takes a dozen bytes; anything less means the client is gone. */
	if (send(hs->fd, buf, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) != len)
		return -EPIPE;
	return 0;
}

static ssize_t op_recv(void *opaque, void *host, const struct iovec *iov, int n, bool *drained)
{
	struct hsock *hs = host;
	ssize_t r = readv(hs->fd, iov, n);

	if (r < 0)
		return -errno;
	/*
	 * A stream socket's short read emptied it, and the next bytes raise a
	 * new edge. Not so for a hang-up already reported: read on to the EOF.
	 */
	*drained = (size_t)r < vsock_iov_len(iov, n) && !hs->rdhup;
	return r;
}

static ssize_t op_send(void *opaque, void *host, const struct iovec *iov, int n)
{
	struct hsock *hs = host;
	struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n};
	ssize_t r = sendmsg(hs->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);

	return r < 0 ? -errno : r;
}

static void op_shutdown(void *opaque, void *host, int how)
{
	struct hsock *hs = host;

	shutdown(hs->fd, how);
}

static const char *refusal(int err)
{
	switch (err) {
	case -ECONNREFUSED:
		return "ERR connection refused\n";
	case -ETIMEDOUT:
		return "ERR timed out\n";
	default:
		return "ERR connection reset\n";
	}
}

static void op_release(void *opaque, void *host, int err)
{
	struct vsock_host *vh = opaque;
	struct hsock *hs = host;

	hs->conn = NULL;
	if (hs->waiting) /* never got its OK */
		send_line(hs->fd, refusal(err));
	hsock_close(vh, hs);
}

static const struct vsock_host_ops host_ops = {
    .connect = op_connect,
    .established = op_established,
    .recv = op_recv,
    .send = op_send,
    .shutdown = op_shutdown,
    .release = op_release,
};

/* --- handshake --- */

static void line_refuse(struct vsock_host *vh, struct hsock *hs, const char *msg)
{
	send_line(hs->fd, msg);
	hsock_close(vh, hs);
}

/* Read up to the end of the CONNECT line, never past it: what follows is stream data. */
static int line_read(struct hsock *hs)
{
	for (;;) {
		size_t room = sizeof(hs->line) - hs->line_len;
		ssize_t r = recv(hs->fd, hs->line + hs->line_len, room, MSG_PEEK);
		int end;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		if (r == 0)
			return -ECONNRESET;
		end = vsock_line_end(hs->line, hs->line_len + (size_t)r);
		if (end < 0)
			return end;
		/* Take the bytes just peeked, or those up to and including '\n'. */
		if (end > 0) {
			hs->more = hs->line_len + (size_t)r > (size_t)end;
			r = (ssize_t)((size_t)end - hs->line_len);
		}
		r = recv(hs->fd, hs->line + hs->line_len, (size_t)r, 0);
		if (r < 0)
			return -errno;
		hs->line_len += (size_t)r;
		if (end > 0 && hs->line_len == (size_t)end)
			return 1;
	}
}

static void on_line(struct vsock_host *vh, struct hsock *hs)
{
	uint32_t port;
	int rc = line_read(hs);

	if (rc == 0)
		return;
	if (rc == -EMSGSIZE) {
		line_refuse(vh, hs, "ERR line too long\n");
		return;
	}
	if (rc < 0) {
		hsock_close(vh, hs);
		return;
	}
	if (vsock_line_parse_connect(hs->line, hs->line_len, &port) < 0) {
		line_refuse(vh, hs, "ERR expected CONNECT <port>\n");
		return;
	}
	rc = vsock_core_connect(vh->core, port, hs, &hs->conn);
	if (rc < 0) {
		line_refuse(vh, hs, "ERR too many connections\n");
		return;
	}
	hs->kind = HS_STREAM;
	vh->nr_lines--;
	waiting_add(vh, hs, vh->connect_timeout_ms);
	/* Stream bytes sent with the line raised no edge of their own. */
	if (hs->more)
		vsock_core_readable(vh->core, hs->conn);
}

static void on_accept(struct vsock_host *vh)
{
	for (int i = 0; i < ACCEPTS_PER_POLL; i++) {
		int fd = accept4(vh->listen.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct hsock *hs;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Level-triggered: stop listening until a socket closes. */
				struct epoll_event ev = {.events = 0, .data.ptr = &vh->listen};

				pr_warn("vsock: accept on %s: %s; paused until a stream closes",
					vh->path, strerror(errno));
				if (epoll_ctl(vh->epfd, EPOLL_CTL_MOD, vh->listen.fd, &ev) == 0)
					vh->listen_paused = true;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
				   errno != ECONNABORTED) {
				pr_warn("vsock: accept on %s: %s", vh->path, strerror(errno));
			}
			return;
		}
		if (vh->nr_lines >= VSOCK_MAX_HANDSHAKES) {
			send_line(fd, "ERR busy\n");
			close(fd);
			continue;
		}
		hs = hsock_new(vh, HS_LINE, fd);
		if (!hs) {
			close(fd);
			continue;
		}
		vh->nr_lines++;
		waiting_add(vh, hs, vh->line_timeout_ms);
		on_line(vh, hs); /* the line may be there already; edge-triggered */
	}
}

static void on_timer(struct vsock_host *vh)
{
	uint64_t ticks, now = now_ms();
	struct hsock *hs, *next;

	if (read(vh->timer.fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		pr_warn("vsock: timerfd read: %s", strerror(errno));
	for (hs = vh->waiting; hs; hs = next) {
		next = hs->next;
		if (hs->deadline_ms > now)
			continue;
		if (hs->kind == HS_LINE)
			line_refuse(vh, hs, "ERR timed out\n");
		else if (hs->conn)
			vsock_core_abort(vh->core, hs->conn, -ETIMEDOUT);
	}
	if (!vh->waiting)
		timer_arm(vh, false);
}

static void on_stream(struct vsock_host *vh, struct hsock *hs, uint32_t events)
{
	if (hs->conn && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		vsock_core_writable(vh->core, hs->conn);
	if (hs->conn && (events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)))
		vsock_core_readable(vh->core, hs->conn);
}

void vsock_host_poll(struct vsock_host *vh)
{
	struct epoll_event evs[EVENTS_PER_POLL];
	int n;

	if (vh->lock)
		pthread_mutex_lock(vh->lock);
	vh->in_poll = true;
	n = epoll_wait(vh->epfd, evs, EVENTS_PER_POLL, 0);
	for (int i = 0; i < n; i++) {
		struct hsock *hs = evs[i].data.ptr;

		if (hs->fd < 0) /* closed earlier in this batch */
			continue;
		if (evs[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			hs->rdhup = true;
		switch (hs->kind) {
		case HS_LISTEN:
			on_accept(vh);
			break;
		case HS_TIMER:
			on_timer(vh);
			break;
		case HS_LINE:
			on_line(vh, hs);
			break;
		case HS_STREAM:
			on_stream(vh, hs, evs[i].events);
			break;
		}
	}
	vh->in_poll = false;
	while (vh->zombies) {
		struct hsock *z = vh->zombies;

		vh->zombies = z->znext;
		free(z);
	}
	if (vh->kick && (vsock_core_rx_pending(vh->core) || vsock_core_event_pending(vh->core)))
		vh->kick(vh->kick_opaque);
	if (vh->lock)
		pthread_mutex_unlock(vh->lock);
}

static void on_epoll(void *opaque, uint32_t events)
{
	vsock_host_poll(opaque);
}

/* --- setup --- */

/* Remove a stale socket at the path; refuse one a live process still serves. */
static int clear_path(const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, rc;

	if (lstat(addr->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		pr_err("vsock: %s exists and is not a socket", addr->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 ? -errno : 0;
	close(fd);
	if (rc == 0 || rc == -EAGAIN) {
		pr_err("vsock: %s is in use by a running process", addr->sun_path);
		return -EADDRINUSE;
	}
	if (rc != -ECONNREFUSED) {
		pr_err("vsock: %s: cannot tell whether it is stale: %s", addr->sun_path,
		       strerror(-rc));
		return rc;
	}
	if (unlink(addr->sun_path) < 0 && errno != ENOENT) {
		rc = -errno;
		pr_err("vsock: cannot remove the stale socket %s: %s", addr->sun_path,
		       strerror(-rc));
		return rc;
	}
	return 0;
}

static int host_listen(struct vsock_host *vh)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	int rc;

	/* Room for "_4294967295" too, so every guest-initiated path fits. */
	if (strlen(vh->path) + 11 >= sizeof(addr.sun_path)) {
		pr_err("vsock: socket path longer than %zu bytes: %s", sizeof(addr.sun_path) - 12,
		       vh->path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, vh->path);
	rc = clear_path(&addr);
	if (rc < 0)
		return rc;
	vh->listen.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (vh->listen.fd < 0)
		return -errno;
	if (bind(vh->listen.fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		pr_err("vsock: bind %s: %s", vh->path, strerror(-rc));
		return rc;
	}
	if (chmod(vh->path, 0600) < 0 || lstat(vh->path, &st) < 0 ||
	    listen(vh->listen.fd, SOMAXCONN) < 0) {
		rc = -errno;
		pr_err("vsock: %s: %s", vh->path, strerror(-rc));
		unlink(vh->path);
		return rc;
	}
	vh->dev = st.st_dev;
	vh->ino = st.st_ino;
	return 0;
}

static int epoll_watch(struct vsock_host *vh, struct hsock *hs)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = hs};

	return epoll_ctl(vh->epfd, EPOLL_CTL_ADD, hs->fd, &ev) < 0 ? -errno : 0;
}

int vsock_host_init(struct evloop *el, const char *uds_path, uint64_t guest_cid,
		    pthread_mutex_t *lock, vsock_kick_fn kick, void *kick_opaque,
		    struct vsock_host **out)
{
	struct vsock_host *vh;
	int rc;

	if (!uds_path || !*uds_path)
		return -EINVAL;
	vh = calloc(1, sizeof(*vh));
	if (!vh)
		return -ENOMEM;
	vh->el = el;
	vh->lock = lock;
	vh->kick = kick;
	vh->kick_opaque = kick_opaque;
	vh->line_timeout_ms = VSOCK_LINE_TIMEOUT_MS;
	vh->connect_timeout_ms = VSOCK_CONNECT_TIMEOUT_MS;
	vh->listen.kind = HS_LISTEN;
	vh->timer.kind = HS_TIMER;
	vh->epfd = vh->listen.fd = vh->timer.fd = -1;
	vh->path = strdup(uds_path);
	rc = vh->path ? vsock_core_init(guest_cid, &host_ops, vh, &vh->core) : -ENOMEM;
	if (rc < 0)
		goto err;
	vh->epfd = epoll_create1(EPOLL_CLOEXEC);
	vh->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (vh->epfd < 0 || vh->timer.fd < 0) {
		rc = -errno;
		pr_err("vsock: epoll/timerfd: %s", strerror(-rc));
		goto err;
	}
	rc = host_listen(vh);
	if (rc < 0)
		goto err;
	rc = epoll_watch(vh, &vh->listen);
	if (rc == 0)
		rc = epoll_watch(vh, &vh->timer);
	if (rc == 0)
		rc = evloop_add(el, vh->epfd, EPOLLIN, on_epoll, vh);
	if (rc < 0) {
		pr_err("vsock: watching sockets: %s", strerror(-rc));
		goto err;
	}
	pr_info("vsock: guest CID %llu, host side on %s", (unsigned long long)guest_cid, uds_path);
	*out = vh;
	return 0;

err:
	if (vh->ino)
		unlink(vh->path);
	if (vh->listen.fd >= 0)
		close(vh->listen.fd);
	if (vh->timer.fd >= 0)
		close(vh->timer.fd);
	if (vh->epfd >= 0)
		close(vh->epfd);
	vsock_core_exit(vh->core);
	free(vh->path);
	free(vh);
	return rc;
}

void vsock_host_exit(struct vsock_host *vh)
{
	struct stat st;

	if (!vh)
		return;
	evloop_del(vh->el, vh->epfd);
	vsock_core_exit(vh->core); /* releases (closes) every stream */
	while (vh->waiting)	   /* clients still sending their CONNECT line */
		hsock_close(vh, vh->waiting);
	close(vh->listen.fd);
	close(vh->timer.fd);
	close(vh->epfd);
	/* Only our own socket: another VMM may have taken the path since. */
	if (!lstat(vh->path, &st) && st.st_dev == vh->dev && st.st_ino == vh->ino)
		unlink(vh->path);
	free(vh->path);
	free(vh);
}

struct vsock_core *vsock_host_core(struct vsock_host *vh)
{
	return vh->core;
}

void vsock_host_set_timeouts(struct vsock_host *vh, unsigned int line_ms, unsigned int connect_ms)
{
	vh->line_timeout_ms = line_ms;
	vh->connect_timeout_ms = connect_ms;
}
