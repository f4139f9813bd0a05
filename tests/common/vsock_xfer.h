/*
 * Stream test engine shared by the vsock test tools: tests/guest/vsock_tool.c
 * (in the guest, AF_VSOCK) and tests/host/vsock_host.c (on the host: the VMM's
 * Unix socket, or a plain Unix / TCP socket as a baseline). Groups of streams
 * run at once in one poll loop; every stream carries pseudo-random bytes both
 * ways, and the receiving side checks each byte and keeps a checksum.
 *
 * One stream on the wire: the connecting side sends a 40-byte header
 * (little-endian: magic "TVX1", flags 0, send bytes, send seed, reply bytes,
 * reply seed), then `send` bytes of xf_gen(send seed), then shuts its side
 * for writing. The accepting side reads the header, sends `reply` bytes of
 * xf_gen(reply seed), and shuts its side for writing once it has sent them
 * and read the connector's EOF: so the connector's EOF says the peer took
 * every byte. Both sides print one line per stream:
 *
 *   VSOCK-STREAM connect|accept port=P seed=S sent=N sent_fnv=H recv=N recv_fnv=H
 *                [local=L | peer=L] ms=T ok
 *   ... FAIL <why>
 *
 * where seed is the connector's send seed (the key that pairs the two lines
 * of one stream), *_fnv the 64-bit FNV-1a of the payload, local the port in
 * the VMM's "OK <port>" line, peer the vsock port of an accepted stream's
 * peer (so the two agree), and ms the time from connect/accept to the end.
 * Then `VSOCK-DONE streams=N ok=N fail=N ms=T peak_connect=N peak_accept=N`
 * (the most streams open at once, by role); exit status 0 only if every
 * stream was ok.
 *
 * Command line (after the tool's own arguments):
 *   [-t SECONDS] [listen|connect] GROUP [[listen|connect] GROUP]...
 * GROUP is key=value,... with
 *   port=P       vsock port (required)
 *   n=N          streams in the group (1)
 *   send=SIZE    bytes the connector sends (0; K/M/G suffixes)
 *   reply=SIZE   bytes the acceptor sends back (0)
 *   seed=S       stream i uses seeds S+2i (send) and S+2i+1 (reply) (port*1000)
 *   cid=C        connect: the peer's CID (guest tool only; 2)
 *   refused      connect: the connection must be refused (guest: connect()
 *                fails with ECONNRESET/ECONNREFUSED; host: an ERR line, then EOF)
 *   stall        connect: the peer does not read this group: when every
 *                plain connect group is done, its streams must still have
 *                bytes unsent (VSOCK-STALLED line); then they must complete
 *   after        connect: start only after the plain groups and the stall check
 *   close        connect: close the socket right after the last byte is
 *                written, without shutdown() and without reading (reply=0)
 *   hold         listen: accept, but read nothing until a `release` stream comes
 *   release      listen: a stream accepted here releases the `hold` groups
 * `VSOCK-READY` is printed once every listening socket is up.
 */
#ifndef TORPOR_TESTS_VSOCK_XFER_H
#define TORPOR_TESTS_VSOCK_XFER_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define XF_MAGIC       0x31585654u /* "TVX1" */
#define XF_HDR_SIZE    40u
#define XF_CHUNK       (64u << 10)
#define XF_MAX_GROUPS  16u
#define XF_MAX_STREAMS 1024u
#define XF_BURST       4 /* reads or writes per stream per poll round */
#define FNV_OFFSET     0xcbf29ce484222325ull
#define FNV_PRIME      0x100000001b3ull

enum xf_role { XF_CONNECT, XF_ACCEPT };

struct xf_group {
	enum xf_role role;
	uint32_t port;
	uint64_t cid;
	unsigned int n;
	uint64_t send, reply, seed;
	bool stall, after, refused, close, hold, release;
	int lfd;
	unsigned int started;
};

struct xf_stream {
	struct xf_group *g;
	unsigned int idx;
	int fd;
	bool line;     /* an "OK <port>" or "ERR ..." line comes first (the VMM's socket) */
	bool err_line; /* ... and it was ERR */
	char lbuf[72];
	size_t llen;
	uint8_t hdr[XF_HDR_SIZE]; /* accept: the header, as read so far */
	size_t hdr_len;
	bool have_hdr;
	uint8_t *tbuf; /* bytes generated, not yet written */
	size_t toff, tlen;
	uint64_t tx_total, tx_seed, tx_gen, tx_fnv;
	uint64_t rx_total, rx_seed, rx_done, rx_fnv;
	int64_t bad_at; /* first payload byte that differed, -1 none */
	int64_t port2;	/* connect: the port in the OK line; accept: a vsock peer's port; -1 */
	bool tx_shut, rx_eof, held, done, failed;
	char why[128];
	uint64_t t0, t1;
};

struct xf_ops {
	/* Connect to g's port: a socket or -errno; *line: an OK/ERR line comes first. */
	int (*connect)(void *ctx, const struct xf_group *g, bool *line);
	/* Listen on port: a listening socket, or -errno. */
	int (*listen)(void *ctx, uint32_t port);
	/* The group has all its streams: close the listening socket (and its file). */
	void (*unlisten)(void *ctx, uint32_t port, int fd);
};

struct xfer {
	const struct xf_ops *ops;
	void *ctx;
	unsigned int timeout_s;
	struct xf_group groups[XF_MAX_GROUPS];
	unsigned int ngroups;
	struct xf_stream *streams[XF_MAX_STREAMS];
	unsigned int nstreams;
	bool released, stall_checked;
	unsigned int nok, nfail;
	unsigned int peak[2]; /* most streams open at once, by role */
	uint64_t t0;
	uint8_t rbuf[XF_CHUNK], ebuf[XF_CHUNK];
};

static uint64_t xf_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Word k of the stream for seed: splitmix64 of a counter, so any offset is cheap. */
static uint64_t xf_word(uint64_t seed, uint64_t k)
{
	uint64_t z = seed * 0xd1342543de82ef95ull + (k + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Bytes [off, off+len) of the pseudo-random stream for seed (word k little-endian at 8k). */
static void xf_gen(uint64_t seed, uint64_t off, uint8_t *buf, size_t len)
{
	size_t i = 0;

	while (i < len && ((off + i) & 7)) {
		uint64_t w = xf_word(seed, (off + i) >> 3);

		buf[i] = (uint8_t)(w >> (8 * ((off + i) & 7)));
		i++;
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t w = xf_word(seed, (off + i) >> 3);

		for (int b = 0; b < 8; b++)
			buf[i + b] = (uint8_t)(w >> (8 * b));
	}
	for (; i < len; i++)
		buf[i] = (uint8_t)(xf_word(seed, (off + i) >> 3) >> (8 * ((off + i) & 7)));
}

static uint64_t xf_fnv(uint64_t h, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * FNV_PRIME;
	return h;
}

static void xf_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t xf_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

__attribute__((format(printf, 2, 3))) static void xf_fail(struct xf_stream *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failed)
		return;
	s->failed = true;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
}

/* --- command line --- */

static int xf_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -1;
	switch (*end) {
	case 'G':
		v <<= 10; /* fall through */
	case 'M':
		v <<= 10; /* fall through */
	case 'K':
		v <<= 10;
		end++;
		break;
	}
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static int xf_parse_group(struct xf_group *g, enum xf_role role, char *spec)
{
	char *save = NULL;
	bool seed_set = false;

	memset(g, 0, sizeof(*g));
	g->role = role;
	g->n = 1;
	g->cid = 2;
	g->lfd = -1;
	for (char *kv = strtok_r(spec, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *v = strchr(kv, '=');
		uint64_t num = 0;

		if (v)
			*v++ = '\0';
		if (v && xf_size(v, &num) < 0) {
			fprintf(stderr, "bad number in %s=%s\n", kv, v);
			return -1;
		}
		if (v && !strcmp(kv, "port") && num <= 0xffffffffull)
			g->port = (uint32_t)num;
		else if (v && !strcmp(kv, "n") && num >= 1 && num <= XF_MAX_STREAMS)
			g->n = (unsigned int)num;
		else if (v && !strcmp(kv, "send"))
			g->send = num;
		else if (v && !strcmp(kv, "reply"))
			g->reply = num;
		else if (v && !strcmp(kv, "seed"))
			g->seed = num, seed_set = true;
		else if (v && !strcmp(kv, "cid"))
			g->cid = num;
		else if (!v && !strcmp(kv, "refused") && role == XF_CONNECT)
			g->refused = true;
		else if (!v && !strcmp(kv, "stall") && role == XF_CONNECT)
			g->stall = true;
		else if (!v && !strcmp(kv, "after") && role == XF_CONNECT)
			g->after = true;
		else if (!v && !strcmp(kv, "close") && role == XF_CONNECT)
			g->close = true;
		else if (!v && !strcmp(kv, "hold") && role == XF_ACCEPT)
			g->hold = true;
		else if (!v && !strcmp(kv, "release") && role == XF_ACCEPT)
			g->release = true;
		else {
			fprintf(stderr, "unknown or out-of-range group key \"%s\"\n", kv);
			return -1;
		}
	}
	if (!g->port) {
		fprintf(stderr, "a group needs port=P\n");
		return -1;
	}
	if (g->close && g->reply) {
		fprintf(stderr, "close needs reply=0\n");
		return -1;
	}
	if (!seed_set)
		g->seed = (uint64_t)g->port * 1000;
	return 0;
}

/* Parse [-t SECONDS] [listen|connect] GROUP...; 0, or -1 after a message. */
static int xf_parse(struct xfer *x, int argc, char **argv)
{
	enum xf_role role = XF_CONNECT;
	unsigned int total = 0;
	int i = 0;

	x->timeout_s = 120;
	if (i + 1 < argc && !strcmp(argv[i], "-t")) {
		x->timeout_s = (unsigned int)strtoul(argv[i + 1], NULL, 10);
		i += 2;
	}
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "listen")) {
			role = XF_ACCEPT;
			continue;
		}
		if (!strcmp(argv[i], "connect")) {
			role = XF_CONNECT;
			continue;
		}
		if (x->ngroups == XF_MAX_GROUPS) {
			fprintf(stderr, "at most %u groups\n", XF_MAX_GROUPS);
			return -1;
		}
		if (xf_parse_group(&x->groups[x->ngroups], role, argv[i]) < 0)
			return -1;
		total += x->groups[x->ngroups++].n;
	}
	if (!x->ngroups || total > XF_MAX_STREAMS) {
		fprintf(stderr, "give 1 to %u streams in groups\n", XF_MAX_STREAMS);
		return -1;
	}
	return 0;
}

/* --- streams --- */

static struct xf_stream *xf_stream_new(struct xfer *x, struct xf_group *g)
{
	struct xf_stream *s = calloc(1, sizeof(*s));

	if (!s) {
		perror("calloc");
		exit(1);
	}
	s->g = g;
	s->idx = g->started++;
	s->fd = -1;
	s->bad_at = s->port2 = -1;
	s->tx_fnv = s->rx_fnv = FNV_OFFSET;
	s->t0 = xf_ms();
	x->streams[x->nstreams++] = s;
	return s;
}

static void xf_tbuf(struct xf_stream *s)
{
	if (!s->tbuf && !(s->tbuf = malloc(XF_CHUNK))) {
		perror("malloc");
		exit(1);
	}
}

static void xf_set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void xf_connect_one(struct xfer *x, struct xf_group *g)
{
	struct xf_stream *s = xf_stream_new(x, g);
	int fd = x->ops->connect(x->ctx, g, &s->line);

	s->tx_seed = g->seed + 2 * s->idx;
	s->rx_seed = s->tx_seed + 1;
	if (fd < 0) {
		s->tx_shut = s->rx_eof = true;
		if (g->refused && (fd == -ECONNRESET || fd == -ECONNREFUSED))
			snprintf(s->why, sizeof(s->why), "refused=%s",
				 fd == -ECONNRESET ? "ECONNRESET" : "ECONNREFUSED");
		else
			xf_fail(s, "connect: %s", strerror(-fd));
		return;
	}
	s->fd = fd;
	xf_set_nonblock(fd);
	if (g->refused) { /* send nothing: the answer must be a refusal */
		s->tx_shut = true;
		if (!s->line)
			xf_fail(s, "connected, but a refusal was expected");
		return;
	}
	s->tx_total = g->send;
	s->rx_total = g->reply;
	xf_tbuf(s);
	xf_put64(s->tbuf, XF_MAGIC);
	xf_put64(s->tbuf + 8, g->send);
	xf_put64(s->tbuf + 16, s->tx_seed);
	xf_put64(s->tbuf + 24, g->reply);
	xf_put64(s->tbuf + 32, s->rx_seed);
	s->tlen = XF_HDR_SIZE;
}

static void xf_start_groups(struct xfer *x, bool after)
{
	for (unsigned int i = 0; i < x->ngroups; i++) {
		struct xf_group *g = &x->groups[i];

		if (g->role == XF_CONNECT && g->after == after)
			while (g->started < g->n)
				xf_connect_one(x, g);
	}
}

static void xf_accept(struct xfer *x, struct xf_group *g)
{
	while (g->started < g->n) {
		struct sockaddr_vm peer;
		socklen_t len = sizeof(peer);
		int fd = accept(g->lfd, (struct sockaddr *)&peer, &len);
		struct xf_stream *s;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				fprintf(stderr, "accept on port %u: %s\n", g->port,
					strerror(errno));
			return;
		}
		xf_set_nonblock(fd);
		s = xf_stream_new(x, g);
		s->fd = fd;
		if (len >= sizeof(peer) && peer.svm_family == AF_VSOCK)
			s->port2 = peer.svm_port;
		s->held = g->hold && !x->released;
		if (g->release && !x->released) {
			x->released = true;
			for (unsigned int j = 0; j < x->nstreams; j++)
				x->streams[j]->held = false;
		}
	}
	x->ops->unlisten(x->ctx, g->port, g->lfd);
	g->lfd = -1;
}

/* The 40-byte header is complete: learn what to send and to expect. */
static void xf_hdr_parsed(struct xf_stream *s)
{
	s->have_hdr = true;
	if ((uint32_t)xf_get64(s->hdr) != XF_MAGIC) {
		xf_fail(s, "bad header magic");
		return;
	}
	s->rx_total = xf_get64(s->hdr + 8);
	s->rx_seed = xf_get64(s->hdr + 16);
	s->tx_total = xf_get64(s->hdr + 24);
	s->tx_seed = xf_get64(s->hdr + 32);
	xf_tbuf(s);
}

/* The first line from the VMM's socket: "OK <port>" or "ERR <why>". */
static size_t xf_rx_line(struct xf_stream *s, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n && s->line) {
		char c = (char)p[i++];

		if (c != '\n') {
			if (s->llen + 1 >= sizeof(s->lbuf)) {
				xf_fail(s, "reply line longer than %zu bytes", sizeof(s->lbuf));
				return n;
			}
			s->lbuf[s->llen++] = c;
			continue;
		}
		s->lbuf[s->llen] = '\0';
		s->line = false;
		if (!strncmp(s->lbuf, "ERR ", 4))
			s->err_line = true;
		else if (!strncmp(s->lbuf, "OK ", 3))
			s->port2 = strtoll(s->lbuf + 3, NULL, 10);
		else
			xf_fail(s, "bad reply line \"%.60s\"", s->lbuf);
	}
	return i;
}

static void xf_rx_payload(struct xfer *x, struct xf_stream *s, const uint8_t *p, size_t n)
{
	s->rx_fnv = xf_fnv(s->rx_fnv, p, n);
	if (s->rx_done + n > s->rx_total) {
		if (s->bad_at < 0)
			s->bad_at = (int64_t)s->rx_total;
		xf_fail(s, "received more than the %" PRIu64 " bytes expected", s->rx_total);
	} else if (s->bad_at < 0) {
		xf_gen(s->rx_seed, s->rx_done, x->ebuf, n);
		if (memcmp(p, x->ebuf, n)) {
			size_t i = 0;

			while (p[i] == x->ebuf[i])
				i++;
			s->bad_at = (int64_t)(s->rx_done + i);
			xf_fail(s, "byte %" PRId64 " differs from what was sent", s->bad_at);
		}
	}
	s->rx_done += n;
}

static void xf_rx_bytes(struct xfer *x, struct xf_stream *s, const uint8_t *p, size_t n)
{
	if (s->line) {
		size_t used = xf_rx_line(s, p, n);

		p += used;
		n -= used;
	}
	if (!n)
		return;
	if (s->err_line) {
		xf_fail(s, "bytes after \"%s\"", s->lbuf);
		return;
	}
	if (s->g->role == XF_ACCEPT && !s->have_hdr) {
		size_t take = XF_HDR_SIZE - s->hdr_len;

		if (take > n)
			take = n;
		memcpy(s->hdr + s->hdr_len, p, take);
		s->hdr_len += take;
		p += take;
		n -= take;
		if (s->hdr_len == XF_HDR_SIZE)
			xf_hdr_parsed(s);
		if (!n)
			return;
	}
	xf_rx_payload(x, s, p, n);
}

static void xf_do_read(struct xfer *x, struct xf_stream *s)
{
	for (int i = 0; i < XF_BURST && !s->rx_eof && !s->failed; i++) {
		ssize_t r = recv(s->fd, x->rbuf, sizeof(x->rbuf), 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0) {
			xf_fail(s, "recv: %s", strerror(errno));
			return;
		}
		if (r == 0)
			s->rx_eof = true;
		else
			xf_rx_bytes(x, s, x->rbuf, (size_t)r);
	}
}

static bool xf_want_write(const struct xf_stream *s)
{
	if (s->tx_shut || s->failed || s->held)
		return false;
	if (s->g->role == XF_CONNECT)
		return true;
	/* The acceptor shuts its side only after the connector's EOF. */
	return s->have_hdr && (s->rx_eof || s->toff < s->tlen || s->tx_gen < s->tx_total);
}

/* Everything is written: shut our side (or close it), the acceptor only after the EOF. */
static void xf_tx_end(struct xf_stream *s)
{
	if (s->tx_shut || s->failed || s->held || s->toff < s->tlen || s->tx_gen < s->tx_total)
		return;
	if (s->g->role == XF_ACCEPT && (!s->have_hdr || !s->rx_eof))
		return;
	if (s->g->close) { /* xf_finish() closes it */
		s->tx_shut = s->rx_eof = true;
		return;
	}
	if (shutdown(s->fd, SHUT_WR) < 0)
		xf_fail(s, "shutdown: %s", strerror(errno));
	s->tx_shut = true;
}

static void xf_do_write(struct xf_stream *s)
{
	for (int i = 0; i < XF_BURST && xf_want_write(s); i++) {
		ssize_t w;

		if (s->toff == s->tlen) {
			size_t n = XF_CHUNK;

			if (s->tx_gen == s->tx_total)
				break;
			if (n > s->tx_total - s->tx_gen)
				n = (size_t)(s->tx_total - s->tx_gen);
			xf_gen(s->tx_seed, s->tx_gen, s->tbuf, n);
			s->tx_fnv = xf_fnv(s->tx_fnv, s->tbuf, n);
			s->tx_gen += n;
			s->toff = 0;
			s->tlen = n;
		}
		w = send(s->fd, s->tbuf + s->toff, s->tlen - s->toff, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w < 0) {
			xf_fail(s, "send: %s", strerror(errno));
			return;
		}
		s->toff += (size_t)w;
	}
	/* Not on the next POLLOUT: a peer that does not read may never give one. */
	xf_tx_end(s);
}

/* Payload bytes written so far. */
static uint64_t xf_sent(const struct xf_stream *s)
{
	size_t pending = s->tlen - s->toff;

	if (!s->tx_gen) /* the header, if anything, is pending */
		return 0;
	return s->tx_gen - pending;
}

static uint64_t xf_key(const struct xf_stream *s)
{
	return s->g->role == XF_CONNECT ? s->tx_seed : s->rx_seed;
}

static void xf_report(struct xfer *x, struct xf_stream *s)
{
	const char *role = s->g->role == XF_CONNECT ? "connect" : "accept";
	char port2[32] = "";

	if (!s->failed && s->g->refused) {
		if (s->line)
			xf_fail(s, "EOF before any reply line");
		else if (s->fd >= 0 && !s->err_line)
			xf_fail(s, "got \"%s\", but a refusal was expected", s->lbuf);
		else if (s->fd >= 0)
			snprintf(s->why, sizeof(s->why), "refused=\"%s\"", s->lbuf);
	} else if (!s->failed) {
		if (s->line)
			xf_fail(s, "EOF before the OK line");
		else if (s->err_line)
			xf_fail(s, "refused: \"%s\"", s->lbuf);
		else if (s->g->role == XF_ACCEPT && !s->have_hdr)
			xf_fail(s, "EOF after %zu header bytes", s->hdr_len);
		else if (s->rx_done != s->rx_total)
			xf_fail(s, "received %" PRIu64 " of %" PRIu64 " bytes", s->rx_done,
				s->rx_total);
	}
	if (s->port2 >= 0)
		snprintf(port2, sizeof(port2), " %s=%" PRId64,
			 s->g->role == XF_CONNECT ? "local" : "peer", s->port2);
	printf("VSOCK-STREAM %s port=%u seed=%" PRIu64 " sent=%" PRIu64 " sent_fnv=%016" PRIx64
	       " recv=%" PRIu64 " recv_fnv=%016" PRIx64 "%s ms=%" PRIu64 " %s%s%s\n",
	       role, s->g->port, xf_key(s), xf_sent(s), s->tx_fnv, s->rx_done, s->rx_fnv, port2,
	       s->t1 - s->t0, s->failed ? "FAIL " : "", s->failed ? "" : s->why,
	       s->failed ? s->why : (s->why[0] ? " ok" : "ok"));
	fflush(stdout);
	if (s->failed)
		x->nfail++;
	else
		x->nok++;
}

static void xf_finish(struct xfer *x, struct xf_stream *s)
{
	s->done = true;
	s->t1 = xf_ms();
	if (s->fd >= 0)
		close(s->fd);
	free(s->tbuf);
	s->tbuf = NULL;
	xf_report(x, s);
}

/* When every plain connect stream is done: stalled streams must still have bytes to send. */
static void xf_stall_check(struct xfer *x)
{
	bool any = false;

	for (unsigned int i = 0; i < x->nstreams; i++) {
		struct xf_stream *s = x->streams[i];

		if (s->g->role != XF_CONNECT || s->g->after)
			continue;
		if (!s->g->stall && !s->done)
			return;
		any |= s->g->stall;
	}
	x->stall_checked = true;
	for (unsigned int i = 0; any && i < x->nstreams; i++) {
		struct xf_stream *s = x->streams[i];

		if (!s->g->stall)
			continue;
		if (s->done || xf_sent(s) == s->tx_total) {
			printf("VSOCK-STALLED port=%u seed=%" PRIu64 " sent=%" PRIu64 " of=%" PRIu64
			       " FAIL it sent everything while the others ran\n",
			       s->g->port, xf_key(s), xf_sent(s), s->tx_total);
			x->nfail++;
		} else {
			printf("VSOCK-STALLED port=%u seed=%" PRIu64 " sent=%" PRIu64 " of=%" PRIu64
			       " ok\n",
			       s->g->port, xf_key(s), xf_sent(s), s->tx_total);
		}
	}
	fflush(stdout);
	xf_start_groups(x, true);
}

static bool xf_all_done(const struct xfer *x)
{
	unsigned int want = 0;

	for (unsigned int i = 0; i < x->ngroups; i++)
		want += x->groups[i].n;
	if (x->nstreams < want)
		return false;
	for (unsigned int i = 0; i < x->nstreams; i++)
		if (!x->streams[i]->done)
			return false;
	return true;
}

static void xf_timeout(struct xfer *x)
{
	for (unsigned int i = 0; i < x->ngroups; i++) {
		struct xf_group *g = &x->groups[i];

		if (g->started < g->n) {
			printf("VSOCK-GROUP %s port=%u started %u of %u FAIL timeout\n",
			       g->role == XF_CONNECT ? "connect" : "accept", g->port, g->started,
			       g->n);
			x->nfail += g->n - g->started;
		}
	}
	for (unsigned int i = 0; i < x->nstreams; i++) {
		struct xf_stream *s = x->streams[i];

		if (s->done)
			continue;
		xf_fail(s,
			"timeout after %u s: sent %" PRIu64 " of %" PRIu64 ", received %" PRIu64
			" of %" PRIu64 "%s%s%s",
			x->timeout_s, xf_sent(s), s->tx_total, s->rx_done, s->rx_total,
			s->held ? ", held" : "", s->rx_eof ? ", got EOF" : "",
			s->tx_shut ? ", sent EOF" : "");
		xf_finish(x, s);
	}
}

static void xf_step(struct xfer *x, struct xf_stream *s, short revents)
{
	bool was_hdr = s->have_hdr, was_eof = s->rx_eof;

	if (revents & (POLLIN | POLLHUP | POLLERR))
		xf_do_read(x, s);
	if ((revents & (POLLOUT | POLLERR)) || was_hdr != s->have_hdr || was_eof != s->rx_eof)
		xf_do_write(s);
	if (s->failed || (s->tx_shut && s->rx_eof))
		xf_finish(x, s);
}

/* Run every group to its end; returns the exit status (0: all ok). */
static int xf_run(struct xfer *x)
{
	static struct pollfd pfd[XF_MAX_STREAMS + XF_MAX_GROUPS];
	static struct xf_stream *who[XF_MAX_STREAMS + XF_MAX_GROUPS];
	uint64_t deadline;

	setvbuf(stdout, NULL, _IOLBF, 0);
	x->t0 = xf_ms();
	for (unsigned int i = 0; i < x->ngroups; i++) {
		struct xf_group *g = &x->groups[i];

		if (g->role != XF_ACCEPT)
			continue;
		g->lfd = x->ops->listen(x->ctx, g->port);
		if (g->lfd < 0) {
			printf("VSOCK-GROUP accept port=%u FAIL listen: %s\n", g->port,
			       strerror(-g->lfd));
			return 1;
		}
		xf_set_nonblock(g->lfd);
	}
	printf("VSOCK-READY\n");
	fflush(stdout);
	xf_start_groups(x, false);
	deadline = x->t0 + (uint64_t)x->timeout_s * 1000;
	for (;;) {
		unsigned int n = 0;
		uint64_t now;
		int r;

		unsigned int open[2] = {0, 0};

		if (!x->stall_checked)
			xf_stall_check(x);
		for (unsigned int i = 0; i < x->nstreams; i++) {
			struct xf_stream *s = x->streams[i];

			if (!s->done && (s->fd < 0 || s->failed)) /* refused, or failed early */
				xf_finish(x, s);
			if (!s->done && ++open[s->g->role] > x->peak[s->g->role])
				x->peak[s->g->role] = open[s->g->role];
		}
		if (xf_all_done(x))
			break;
		for (unsigned int i = 0; i < x->ngroups; i++) {
			if (x->groups[i].lfd >= 0) {
				pfd[n] = (struct pollfd){.fd = x->groups[i].lfd, .events = POLLIN};
				who[n++] = NULL;
			}
		}
		for (unsigned int i = 0; i < x->nstreams; i++) {
			struct xf_stream *s = x->streams[i];

			if (s->done || s->held)
				continue;
			pfd[n] = (struct pollfd){.fd = s->fd};
			if (!s->rx_eof)
				pfd[n].events |= POLLIN;
			if (xf_want_write(s))
				pfd[n].events |= POLLOUT;
			who[n++] = s;
		}
		now = xf_ms();
		if (now >= deadline) {
			xf_timeout(x);
			break;
		}
		r = poll(pfd, n, (int)(deadline - now < 1000 ? deadline - now : 1000));
		if (r < 0 && errno != EINTR) {
			perror("poll");
			return 1;
		}
		for (unsigned int i = 0; r > 0 && i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (!who[i]) {
				for (unsigned int j = 0; j < x->ngroups; j++)
					if (x->groups[j].lfd == pfd[i].fd)
						xf_accept(x, &x->groups[j]);
			} else if (!who[i]->done && !who[i]->held) {
				xf_step(x, who[i], pfd[i].revents);
			}
		}
	}
	printf("VSOCK-DONE streams=%u ok=%u fail=%u ms=%" PRIu64
	       " peak_connect=%u peak_accept=%u\n",
	       x->nok + x->nfail, x->nok, x->nfail, xf_ms() - x->t0, x->peak[XF_CONNECT],
	       x->peak[XF_ACCEPT]);
	fflush(stdout);
	return x->nfail ? 1 : 0;
}

#endif
