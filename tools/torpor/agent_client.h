/*
 * The host side of the guest agent protocol (docs/agent-protocol.md): connect
 * to a VMM's vsock Unix socket, open request streams, move their data with
 * credit-based flow control, and read their replies. Used by the torpor CLI
 * and the supervisor. No globals, no threads, no exit(), no signals: every
 * function returns 0 (or a count) or -errno, and says why in a message.
 *
 * Three layers, each built on the one before:
 *
 * 1. The event-driven core. An agent_conn is one connection; a request is an
 *    agent_stream with callbacks (agent_stream_ops). The caller drives I/O:
 *    put agent_conn_fd() in its poll/epoll set (POLLIN always, POLLOUT when
 *    agent_conn_want_write()) and call agent_conn_handle() when it is ready.
 *    Many streams share one connection; a stream whose reader stops
 *    consuming stalls only that stream (the agent's process blocks), never
 *    the others.
 *
 * 2. File descriptor bridges. agent_stream_bridge() ties a stream's IN to a
 *    readable fd and OUT/ERR to writable fds; agent_conn_pollfds() and
 *    agent_conn_dispatch() then poll the connection and every bridged fd
 *    together (the caller may add its own fds to the same poll), and
 *    agent_conn_wait() does one such round by itself.
 *
 * 3. Blocking helpers for one request at a time: agent_request(),
 *    agent_ping(), agent_stat(), agent_list(), agent_remove(), agent_ready(),
 *    agent_file_write(), agent_file_read(), agent_exec(). Other streams of
 *    the same connection keep running while they wait.
 *
 * Flow control. Each channel of a stream starts with FRAME_WINDOW bytes of
 * credit each way. agent_stream_write() never sends more DATA on IN than the
 * agent granted: it takes what fits and returns how much it took; on_writable
 * says when more credit came. Received DATA is credited back to the agent as
 * it is consumed: right after on_data returns (the default), or, in manual
 * mode (agent_stream_set_manual_credit()), when the caller says so with
 * agent_stream_consume(). Credit is returned in batches of AGENT_CREDIT_BATCH.
 *
 * Lifetime. agent_stream_open() returns a stream the library owns. on_end is
 * called exactly once per stream (the agent's final reply, a protocol error
 * on the stream, or the loss of the connection); the stream is freed right
 * after on_end returns, so forget the pointer there. A detached stream
 * (agent_stream_detach()) gets no callbacks at all any more. A connection is
 * used by one thread at a time. Callbacks may open, write to, signal, cancel
 * and detach streams, but must not drive the connection (agent_conn_handle,
 * _dispatch, _wait, _run_until, the blocking helpers) nor close it.
 */
#ifndef TORPOR_AGENT_CLIENT_H
#define TORPOR_AGENT_CLIENT_H

#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "guest-init/proto.h"

#define AGENT_CONNECT_TIMEOUT_MS 15000     /* default for agent_connect(): the VMM gives up at 10 s */
#define AGENT_CREDIT_BATCH       (64u << 10) /* consumed bytes are granted back in steps of this */

struct agent_conn;
struct agent_stream;

/* --- Connecting ----------------------------------------------------------- */

/*
 * Connect to the VMM's vsock Unix socket uds, send "CONNECT 1024\n" and wait
 * for "OK <n>\n", all within timeout_ms (<= 0: AGENT_CONNECT_TIMEOUT_MS).
 * On success *out is a connection with no streams; bytes the agent sent right
 * after the OK line are kept. Returns 0, or -errno with one line in err:
 * -ENOENT/-ECONNREFUSED (no VMM at uds), -ECONNRESET (the guest refused port
 * 1024: the agent is not running, or the device was reset), -ETIMEDOUT,
 * -EPROTO (not a vsock socket: a reply that is neither OK nor ERR).
 */
int agent_connect(const char *uds, int timeout_ms, struct agent_conn **out, char *err,
		  size_t errlen);

/*
 * Check the VMM's answer to CONNECT: line[0..len) without the '\n'
 * (a trailing '\r' is allowed). Returns 0 for "OK <decimal>", otherwise
 * -errno and a message in err: "ERR connection refused" → -ECONNRESET (no
 * listener on the port), "ERR timed out" → -ETIMEDOUT, "ERR busy" and
 * "ERR too many connections" → -EAGAIN, another "ERR ..." → -ECONNABORTED,
 * anything else → -EPROTO.
 */
int agent_handshake_parse(const char *line, size_t len, char *err, size_t errlen);

/*
 * A connection over fd, a stream socket already past the handshake (or any
 * socket speaking frames, e.g. one end of a socketpair in a test). Takes
 * ownership of fd (sets it non-blocking) and feeds the first pre_len bytes of
 * pre into the decoder first. Returns NULL on ENOMEM (fd is then closed).
 */
struct agent_conn *agent_conn_new(int fd, const void *pre, size_t pre_len);

/*
 * Close the connection: every stream not yet ended gets on_end with
 * -ECONNABORTED first (detached ones get nothing), then all is freed.
 */
void agent_conn_close(struct agent_conn *c);

/* --- The event-driven core ------------------------------------------------ */

int agent_conn_fd(const struct agent_conn *c);
/* True when frames wait to be sent: poll the fd for POLLOUT too. */
bool agent_conn_want_write(const struct agent_conn *c);
/*
 * Read and/or write what the socket allows and dispatch every whole frame
 * that arrived to its stream's callbacks. Returns 0, or -errno once the
 * connection has failed (then every stream has ended; see agent_conn_error()).
 */
int agent_conn_handle(struct agent_conn *c, bool readable, bool writable);
/* 0 while the connection works, else the -errno it failed with. */
int agent_conn_status(const struct agent_conn *c);
/*
 * The last connection-level problem, one line: why it failed, or the last
 * error the agent sent on stream 0. "" when none.
 */
const char *agent_conn_error(const struct agent_conn *c);
/* Streams opened and not yet finished (detached ones count until the agent's final reply). */
size_t agent_conn_nstreams(const struct agent_conn *c);

/* How a stream ended: what on_end receives. */
enum agent_end_kind {
	AGENT_END_RESULT, /* "result": success; msg holds the operation's results */
	AGENT_END_EXIT,   /* "exit": a process ended */
	AGENT_END_ERROR,  /* "error" from the agent, or a failure here (local is true) */
};

struct agent_end {
	enum agent_end_kind kind;
	json_t *msg;       /* the final reply (borrowed, valid during on_end); NULL when local */
	int status;        /* EXIT: exit status 0..255, or -1 when killed by a signal */
	int signal;        /* EXIT: the signal that killed it, or 0 */
	bool timed_out;    /* EXIT: the request's timeout_ms killed it */
	int err;           /* ERROR: errno value (from "errno", else ECANCELED for "cancelled",
			      ETIMEDOUT for "timeout", else EREMOTEIO); local: the -errno's value */
	const char *error; /* ERROR: the message */
	bool local;        /* ERROR: made up here (connection lost, protocol error, closed) */
};

struct agent_stream_ops {
	/* A reply that is not final, e.g. {"type":"started","pid":42}; msg is borrowed. */
	void (*on_reply)(struct agent_stream *s, json_t *msg, void *arg);
	/* DATA from the guest on chan (CHAN_OUT or CHAN_ERR). */
	void (*on_data)(struct agent_stream *s, int chan, const uint8_t *buf, size_t len,
			void *arg);
	/* CLOSE from the guest: chan will carry no more DATA. */
	void (*on_eof)(struct agent_stream *s, int chan, void *arg);
	/* The agent granted IN credit after a write that did not fit; write more. */
	void (*on_writable)(struct agent_stream *s, void *arg);
	/* The stream is over (see struct agent_end); s is freed after this returns. */
	void (*on_end)(struct agent_stream *s, const struct agent_end *e, void *arg);
};

/*
 * Open a stream: send req (a JSON object with "op"; not stolen) as its first
 * CTRL frame. Any callback may be NULL. Returns the stream, or NULL with
 * errno: EMFILE (AGENT_MAX_STREAMS open), EINVAL (req too big or not an
 * object), ENOMEM, or the connection's error.
 */
struct agent_stream *agent_stream_open(struct agent_conn *c, const json_t *req,
				       const struct agent_stream_ops *ops, void *arg);
uint32_t agent_stream_id(const struct agent_stream *s);
struct agent_conn *agent_stream_conn(const struct agent_stream *s);

/*
 * Send up to len bytes on IN, as much as the agent's credit allows. Returns
 * the bytes taken (0 when there is no credit: on_writable follows when
 * there is), or -EPIPE after agent_stream_close_in() or the end of the
 * stream, or the connection's -errno.
 */
ssize_t agent_stream_write(struct agent_stream *s, const void *buf, size_t len);
/* IN bytes that may be sent now. */
size_t agent_stream_credit(const struct agent_stream *s);
/* Send CLOSE on IN (end of input). Once only; later calls return 0. */
int agent_stream_close_in(struct agent_stream *s);

/* Manual credit: from now on received bytes count as consumed only through agent_stream_consume(). */
void agent_stream_set_manual_credit(struct agent_stream *s, bool manual);
/* n bytes of chan's received data were consumed; grants credit in batches. */
int agent_stream_consume(struct agent_stream *s, int chan, size_t n);

/* Send one more CTRL object on the stream (not stolen). */
int agent_stream_ctrl(struct agent_stream *s, const json_t *msg);
/* {"op":"signal","signal":sig} to the stream's process. */
int agent_stream_signal(struct agent_stream *s, int sig);
/* {"op":"resize","rows":rows,"cols":cols} on a pty stream. */
int agent_stream_resize(struct agent_stream *s, unsigned rows, unsigned cols);
/* {"op":"cancel"}: the agent kills the process / closes the relay; on_end follows. */
int agent_stream_cancel(struct agent_stream *s);
/*
 * Stop caring about s: cancel it (unless the agent already sent its final
 * reply) and never call its callbacks again. Its id stays taken until the
 * agent's final reply; the library frees it then. Do not use s afterwards.
 */
void agent_stream_detach(struct agent_stream *s);

/* --- File descriptor bridges ---------------------------------------------- */

enum {
	/* EPIPE on out_fd/err_fd sends SIGPIPE to the stream's process (as if
	 * it wrote to the broken pipe itself) instead of cancelling the stream. */
	AGENT_BRIDGE_SIGPIPE = 1 << 0,
};

/*
 * Bridge s to file descriptors (any of them -1 for none): read in_fd until
 * EOF and send it as IN, then CLOSE on IN; write OUT to out_fd and ERR to
 * err_fd. The stream goes to manual credit: data is credited back as it is
 * written, so a slow out_fd stalls only this stream. on_data and on_eof are
 * not called for bridged channels; on_end waits until everything received
 * has been written. A write error other than the SIGPIPE case cancels the
 * stream and its end says why. The fds stay the caller's (never closed);
 * they are polled, never set non-blocking. Returns 0 or -errno.
 */
int agent_stream_bridge(struct agent_stream *s, int in_fd, int out_fd, int err_fd,
			unsigned flags);

/*
 * Fill p[0..max) with what to poll: the connection first, then the bridged
 * fds that have work. Returns how many entries were filled (at least 1 when
 * max >= 1). Entries after them are the caller's to add.
 */
size_t agent_conn_pollfds(struct agent_conn *c, struct pollfd *p, size_t max);
/* Entries a full agent_conn_pollfds() can need now. */
size_t agent_conn_npollfds(const struct agent_conn *c);
/*
 * Handle the revents of the first n entries that agent_conn_pollfds() filled
 * (n its return value). Returns 0 or the connection's -errno.
 */
int agent_conn_dispatch(struct agent_conn *c, const struct pollfd *p, size_t n);
/*
 * One round: poll the connection and the bridges for at most timeout_ms (< 0:
 * no limit) and dispatch. Returns 0, -ETIMEDOUT when nothing happened,
 * -EINTR when a signal interrupted the poll, or the connection's -errno.
 */
int agent_conn_wait(struct agent_conn *c, int timeout_ms);
/*
 * Rounds of agent_conn_wait() until *done is true, the deadline passes
 * (-ETIMEDOUT; timeout_ms < 0: none) or the connection fails (its -errno).
 * -EINTR is not returned: interrupted polls are repeated.
 */
int agent_conn_run_until(struct agent_conn *c, const bool *done, int timeout_ms);

/* --- Blocking helpers ----------------------------------------------------- */

/*
 * Send req on a new stream and wait for its final reply. A "result" returns 0
 * with *reply (if reply is not NULL) holding it (json_decref it). An "error"
 * returns -err (see struct agent_end) with its message in err; an "exit"
 * returns -EPROTO. After timeout_ms (< 0: none) the stream is cancelled and
 * -ETIMEDOUT returned.
 */
int agent_request(struct agent_conn *c, const json_t *req, int timeout_ms, json_t **reply,
		  char *err, size_t errlen);

struct agent_ping {
	uint64_t uptime_ms;
	char version[64];
	int proto;
};
int agent_ping(struct agent_conn *c, int timeout_ms, struct agent_ping *p, char *err,
	       size_t errlen);

struct agent_stat {
	char type[8]; /* "file", "dir", "link", "other" */
	uint32_t mode;
	uint64_t size;
	uint32_t uid, gid;
	int64_t mtime_ns;
};
int agent_stat(struct agent_conn *c, const char *path, int timeout_ms, struct agent_stat *st,
	       char *err, size_t errlen);
/* *entries: the "entries" array (json_decref it); *truncated when the agent cut it at 10000. */
int agent_list(struct agent_conn *c, const char *path, int timeout_ms, json_t **entries,
	       bool *truncated, char *err, size_t errlen);
int agent_remove(struct agent_conn *c, const char *path, bool recursive, int timeout_ms,
		 char *err, size_t errlen);
/*
 * Wait until something accepts TCP connections on 127.0.0.1:port in the
 * guest (port 0: the app's port). The agent waits agent_timeout_ms (0: its
 * default, 10 s); -ETIMEDOUT when it gave up.
 */
int agent_ready(struct agent_conn *c, unsigned port, unsigned agent_timeout_ms, char *err,
		size_t errlen);

/*
 * Upload: fd's contents (read until EOF) to the guest's absolute path with
 * mode (permission bits; the agent writes a temporary file, fsyncs and
 * renames it). uid/gid < 0: the agent's default. *size (may be NULL): what
 * the agent wrote. Returns 0 or -errno with a message.
 */
int agent_file_write(struct agent_conn *c, const char *path, int fd, unsigned mode, long uid,
		     long gid, int timeout_ms, uint64_t *size, char *err, size_t errlen);
/*
 * Download: the guest's path into fd. *mode (may be NULL): the file's mode
 * bits as the agent reported them; *size: the bytes written to fd, checked
 * against the agent's count. Returns 0 or -errno with a message.
 */
int agent_file_read(struct agent_conn *c, const char *path, int fd, int timeout_ms,
		    unsigned *mode, uint64_t *size, char *err, size_t errlen);

/* An exec or pty request; unset fields are left out (the agent's defaults). */
struct agent_exec_opts {
	const char *const *argv; /* NULL-terminated; required for exec, optional for pty */
	const char *const *env;  /* NULL-terminated "K=V", or NULL */
	const char *cwd;
	long uid, gid;           /* < 0: unset */
	uint32_t timeout_ms;     /* 0: none */
	bool no_stdin;           /* exec: "stdin": false */
	bool pty;                /* op "pty" instead of "exec" */
	unsigned rows, cols;     /* pty: 0 for the agent's default */
	const char *term;        /* pty: TERM, or NULL */
};
/* The request object for o ({"op":"exec",...} or {"op":"pty",...}), or NULL on ENOMEM/EINVAL. */
json_t *agent_exec_request(const struct agent_exec_opts *o);

/*
 * Run o in the guest with its stdin from in_fd (-1: none; set o->no_stdin
 * then), stdout to out_fd and stderr to err_fd (-1: discarded), and wait
 * for the end, at most timeout_ms (< 0: no limit; then the stream is
 * cancelled and -ETIMEDOUT returned). Returns 0 with the end in *ex (kind
 * EXIT, or ERROR when the agent refused), or -errno with a message when the
 * connection failed. ex->msg and ex->error are not valid after the return;
 * ex->error is copied into err.
 */
int agent_exec(struct agent_conn *c, const struct agent_exec_opts *o, int in_fd, int out_fd,
	       int err_fd, int timeout_ms, struct agent_end *ex, char *err, size_t errlen);

/*
 * The shell-style exit code for an end: the exit status; 128+N for a death
 * by signal N; 124 when the agent's timeout killed it; for an error, 127
 * (ENOENT: command not found), 126 (EACCES, ENOEXEC, EPERM, EISDIR: cannot
 * run it) or 125 (anything else, including local failures).
 */
int agent_end_exit_code(const struct agent_end *e);

/* The errno value for a name such as "ENOENT", or 0 if unknown. */
int agent_errno_from_name(const char *name);

#endif
