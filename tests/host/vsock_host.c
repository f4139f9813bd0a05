/*
 * Host-side vsock test client (static aarch64, build/aarch64/torpor-test-vsock):
 * streams with checked payloads to and from a guest through the VMM's vsock
 * Unix socket, run by the engine in tests/common/vsock_xfer.h (its header
 * comment has the wire format, the group syntax and the output lines).
 *
 * usage: torpor-test-vsock ADDR [-t SECONDS] [listen|connect] GROUP...
 *        torpor-test-vsock stale PATH
 * ADDR says how a group's port is reached:
 *   vsock:UDS   the VMM's socket: connect writes "CONNECT <port>\n" to UDS and
 *               expects "OK <n>\n" (or, with refused, "ERR ...\n" and EOF);
 *               listen serves the guest's connections on UDS_<port>
 *   unix:PATH   a plain Unix socket PATH_<port>, no handshake (a baseline)
 *   tcp:HOST    TCP to/on HOST (an IPv4 address) and the port (a baseline)
 * `stale PATH` leaves a socket file at PATH that nobody listens on.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "tests/common/vsock_xfer.h"

enum addr_kind { A_VSOCK, A_UNIX, A_TCP };

struct host_ctx {
	enum addr_kind kind;
	const char *base; /* UDS, PATH, or HOST */
};

static int unix_addr(const struct host_ctx *h, uint32_t port, bool bare, struct sockaddr_un *a)
{
	int n;

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	n = bare ? snprintf(a->sun_path, sizeof(a->sun_path), "%s", h->base)
		 : snprintf(a->sun_path, sizeof(a->sun_path), "%s_%u", h->base, port);
	return n < 0 || (size_t)n >= sizeof(a->sun_path) ? -ENAMETOOLONG : 0;
}

static int tcp_addr(const struct host_ctx *h, uint32_t port, struct sockaddr_in *a)
{
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	return port > 0xffff || inet_pton(AF_INET, h->base, &a->sin_addr) != 1 ? -EINVAL : 0;
}

static int write_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t w = send(fd, s, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		s += w;
		len -= (size_t)w;
	}
	return 0;
}

static int vh_connect(void *ctx, const struct xf_group *g, bool *line)
{
	const struct host_ctx *h = ctx;
	struct sockaddr_un un;
	struct sockaddr_in in;
	struct sockaddr *sa = (struct sockaddr *)&un;
	socklen_t salen = sizeof(un);
	int fd, rc, one = 1;
	char buf[32];

	*line = h->kind == A_VSOCK;
	if (h->kind == A_TCP) {
		rc = tcp_addr(h, g->port, &in);
		sa = (struct sockaddr *)&in;
		salen = sizeof(in);
	} else {
		rc = unix_addr(h, g->port, h->kind == A_VSOCK, &un);
	}
	if (rc < 0)
		return rc;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (h->kind == A_TCP)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = connect(fd, sa, salen) < 0 ? -errno : 0;
	if (!rc && h->kind == A_VSOCK) {
		snprintf(buf, sizeof(buf), "CONNECT %u\n", g->port);
		rc = write_all(fd, buf, strlen(buf));
	}
	if (rc < 0) {
		close(fd);
		return rc;
	}
	return fd;
}

static int vh_listen(void *ctx, uint32_t port)
{
	const struct host_ctx *h = ctx;
	struct sockaddr_un un;
	struct sockaddr_in in;
	struct sockaddr *sa = (struct sockaddr *)&un;
	socklen_t salen = sizeof(un);
	int fd, rc, one = 1;

	if (h->kind == A_TCP) {
		rc = tcp_addr(h, port, &in);
		sa = (struct sockaddr *)&in;
		salen = sizeof(in);
	} else {
		rc = unix_addr(h, port, false, &un);
		if (!rc)
			unlink(un.sun_path);
	}
	if (rc < 0)
		return rc;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (h->kind == A_TCP)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The VMM's connect fails (the guest sees a refusal) if the backlog is full. */
	if (bind(fd, sa, salen) < 0 || listen(fd, 1024) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static void vh_unlisten(void *ctx, uint32_t port, int fd)
{
	const struct host_ctx *h = ctx;
	struct sockaddr_un un;

	close(fd);
	if (h->kind != A_TCP && !unix_addr(h, port, false, &un))
		unlink(un.sun_path);
}

static const struct xf_ops vh_ops = {
    .connect = vh_connect,
    .listen = vh_listen,
    .unlisten = vh_unlisten,
};

/* A socket file at path with no listener: bound, never listened on, closed. */
static int make_stale(const char *path)
{
	struct host_ctx h = {.kind = A_UNIX, .base = path};
	struct sockaddr_un un;
	int fd;

	if (unix_addr(&h, 0, true, &un) < 0) {
		fprintf(stderr, "torpor-test-vsock: %s: path too long\n", path);
		return 1;
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
		fprintf(stderr, "torpor-test-vsock: %s: %s\n", path, strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: torpor-test-vsock vsock:UDS|unix:PATH|tcp:IPV4 [-t SECONDS] "
			"[listen|connect] GROUP...\n"
			"       torpor-test-vsock stale PATH\n"
			"  GROUP: port=P[,n=N][,send=SIZE][,reply=SIZE][,seed=S]"
			"[,refused|stall|after|close|hold|release]\n"
			"  (see tests/common/vsock_xfer.h)\n");
}

static struct xfer xf;

int main(int argc, char **argv)
{
	static struct host_ctx h;

	if (argc == 3 && !strcmp(argv[1], "stale"))
		return make_stale(argv[2]);
	if (argc < 3) {
		usage();
		return 2;
	}
	if (!strncmp(argv[1], "vsock:", 6))
		h.kind = A_VSOCK;
	else if (!strncmp(argv[1], "unix:", 5))
		h.kind = A_UNIX;
	else if (!strncmp(argv[1], "tcp:", 4))
		h.kind = A_TCP;
	else {
		usage();
		return 2;
	}
	h.base = strchr(argv[1], ':') + 1;
	xf.ops = &vh_ops;
	xf.ctx = &h;
	if (xf_parse(&xf, argc - 2, argv + 2) < 0)
		return 2;
	return xf_run(&xf);
}
