/*
 * The agent's internals, shared by guest-init/agent*.c: the event loop
 * (watches, timers, child processes, deferred frees), connections, streams
 * with their sources (guest to host) and sink (host to guest), and the ops.
 * Single-threaded: everything runs from agent_main()'s epoll loop.
 */
#ifndef TORPOR_GUEST_INIT_AGENT_INT_H
#define TORPOR_GUEST_INIT_AGENT_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto.h"

#define AGENT_MAX_CONNS	   64		      /* open connections; more are refused */
#define AGENT_READ_BUF	   16384	      /* bytes read from a connection at once */
#define AGENT_OUT_HIGH	   (256u * 1024)      /* queued output that pauses sources and requests */
#define AGENT_OUT_LOW	   (64u * 1024)	      /* ... and resumes them */
#define AGENT_IN_MAX	   (1u * 1024 * 1024) /* IN bytes held per connection before it is paused */
#define AGENT_CREDIT_BATCH (32u * 1024)	      /* grant IN credit in steps of at least this */

#define ARRAY_SIZE(a)			(sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Intrusive doubly-linked list; an unlinked node points to itself. */
struct list {
	struct list *next, *prev;
};

static inline void list_init(struct list *l)
{
	l->next = l->prev = l;
}

static inline bool list_empty(const struct list *l)
{
	return l->next == l;
}

static inline void list_add_tail(struct list *head, struct list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

/* ---- event loop (agent.c) ---- */

struct agent_watch;
typedef void agent_watch_fn(struct agent_watch *w, uint32_t events);

/* An fd the loop watches. fd is -1 when unused; fn is NULL once deleted. */
struct agent_watch {
	agent_watch_fn *fn;
	int fd;
	uint32_t events; /* as registered; 0: not in the epoll set */
};

/* An unused watch (fd -1): what every watch starts as. */
static inline void agent_watch_init(struct agent_watch *w)
{
	w->fn = NULL;
	w->fd = -1;
	w->events = 0;
}

/*
 * Watch fd (owned by w from now on) for events, level-triggered; events 0
 * records it without adding it to the epoll set. Returns 0, -EPERM for a
 * regular file, or -errno (w is left unused and the fd the caller's).
 */
int agent_watch_add(struct agent_watch *w, int fd, uint32_t events, agent_watch_fn *fn);
/* Change the events of a watched fd; 0 takes it out of the epoll set (no HUP either). */
void agent_watch_set(struct agent_watch *w, uint32_t events);
/* Stop watching (the fd stays open; the caller closes it). Pending events are dropped. */
void agent_watch_del(struct agent_watch *w);
/* agent_watch_del() and close(); fd becomes -1. Safe on an unwatched or closed watch. */
void agent_watch_close(struct agent_watch *w);

/* A one-shot timerfd. */
struct agent_timer {
	struct agent_watch w;
	void (*fire)(struct agent_timer *t);
};

/* Open t's timerfd (t->w.fd is -1 on failure, so agent_timer_close() is always safe). */
int agent_timer_open(struct agent_timer *t, void (*fire)(struct agent_timer *t));
/* Fire once after ms milliseconds (at least 1). */
int agent_timer_arm(struct agent_timer *t, uint64_t ms);
void agent_timer_close(struct agent_timer *t);

/* Objects whose watches may have events pending are freed after the batch. */
struct agent_grave {
	struct list link;
	void *obj;
	void (*free)(void *obj);
};

/* fn(obj), or free(obj) if fn is NULL, once the current batch of events is handled. */
void agent_bury(struct agent_grave *g, void *obj, void (*fn)(void *obj));

/* A child process the agent waits for. */
struct agent_child {
	struct list link; /* linked while not reaped */
	pid_t pid;
	void (*exited)(struct agent_child *c, int status); /* after waitpid; unlinked first */
};

void agent_child_add(struct agent_child *c, pid_t pid, void (*exited)(struct agent_child *, int));
/* Stop waiting for c (it is reaped anyway, by waitpid(-1)). */
void agent_child_forget(struct agent_child *c);
static inline bool agent_child_live(const struct agent_child *c)
{
	return c->link.next && !list_empty(&c->link);
}

/* In a freshly forked child: default signal mask, dispositions and fd limit. */
void agent_child_reset(void);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t agent_now_ms(void);

/* ---- connections (agent_conn.c) ---- */

struct agent_stream;

struct agent_conn {
	struct agent_watch w;
	struct list link;      /* all connections */
	struct list poke_link; /* connections with output to flush or input to resume */
	struct frame_reader rd;
	uint8_t *payload; /* FRAME_MAX_PAYLOAD bytes, for rd */
	uint8_t *in;	  /* AGENT_READ_BUF bytes read, not yet fed to rd */
	size_t in_off, in_len;
	uint8_t *out; /* frames to write */
	size_t out_off, out_len, out_cap;
	size_t in_held;	    /* IN bytes waiting in this connection's stream sinks */
	bool write_blocked; /* the socket took less than offered: wait for EPOLLOUT */
	bool out_full;	    /* above AGENT_OUT_HIGH: sources and requests paused */
	bool broken;	    /* out of memory mid-reply: close at the next poke */
	bool dead;
	unsigned nstreams;
	struct agent_stream *streams[AGENT_MAX_STREAMS];
	struct agent_grave grave;
};

/* Accept every pending connection on listening socket lfd. -EMFILE etc. if out of fds. */
int agent_conn_accept(int lfd);
/* Flush output and resume input of the connections poked this round. */
void agent_conn_run_pokes(void);

/* Reserve a frame with up to max payload bytes at the end of the output; NULL if out of memory. */
uint8_t *conn_frame_begin(struct agent_conn *c, size_t max);
/* Queue the frame reserved by conn_frame_begin() with len payload bytes. */
void conn_frame_commit(struct agent_conn *c, uint8_t type, uint8_t chan, uint32_t stream,
		       size_t len);
/* Queue a whole frame. Returns 0 or -ENOMEM. */
int conn_send(struct agent_conn *c, uint8_t type, uint8_t chan, uint32_t stream, const void *p,
	      size_t len);
/* Queue a CTRL frame with obj (compact JSON). Takes the reference to obj; NULL sends an error. */
void conn_send_json(struct agent_conn *c, uint32_t stream, json_t *obj);
/* An error reply on a stream that is not open (err: errno value or 0). */
void conn_reply_error(struct agent_conn *c, uint32_t stream, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Room for more DATA (below AGENT_OUT_HIGH)? */
bool conn_out_room(const struct agent_conn *c);
/* Write as much output as the socket takes, now. */
void conn_flush(struct agent_conn *c);
/* IN bytes held by a sink changed by delta. */
void conn_in_held(struct agent_conn *c, long delta);
struct agent_stream *conn_stream(struct agent_conn *c, uint32_t id);
int conn_stream_add(struct agent_conn *c, struct agent_stream *s);
void conn_stream_del(struct agent_conn *c, struct agent_stream *s);

/* An error reply object: {"type":"error","error":msg[,"errno":name]}. */
json_t *agent_error_json(int err, const char *msg);
/* Close c now: end its streams (killing their processes), close the socket. */
void conn_close(struct agent_conn *c);

/* ---- streams (agent_stream.c) ---- */

/* A guest fd whose bytes go to the host as DATA on a channel (OUT or ERR). */
struct agent_src {
	struct agent_watch w;
	struct list pump_link; /* on the pump list (regular files: no epoll) */
	struct agent_stream *s;
	uint8_t chan;
	bool used, eof, pumped, pty;
	uint64_t bytes;
};

/* A guest fd that takes the host's IN bytes, with what it did not take yet. */
struct agent_sink {
	struct agent_watch w;
	struct agent_stream *s;
	uint8_t *buf;
	size_t off, len, cap;
	bool used;
	bool sock;    /* shutdown(SHUT_WR) at the end, before close */
	bool hold;    /* buffer only (a socket still connecting) */
	bool closing; /* the host sent CLOSE: close once drained */
	bool closed;
	uint64_t bytes; /* bytes written to the fd */
};

struct stream_ops {
	const char *op;
	/* IN bytes for a stream without a sink (file_write); counted as consumed. */
	void (*in_data)(struct agent_stream *s, const uint8_t *p, size_t n);
	/* The host's CLOSE on IN is done (the sink drained and closed, if any). */
	void (*in_closed)(struct agent_stream *s);
	/* A source ended: CLOSE was sent; err is 0 at EOF or -errno of a read. */
	void (*src_done)(struct agent_stream *s, struct agent_src *src, int err);
	int (*signal)(struct agent_stream *s, int sig);
	int (*resize)(struct agent_stream *s, unsigned rows, unsigned cols);
	/* Free what the op holds: kill processes, close fds, remove temp files. */
	void (*release)(struct agent_stream *s);
};

struct agent_stream {
	struct agent_conn *conn;
	const struct stream_ops *ops;
	uint32_t id;
	uint32_t credit[CHAN_MAX + 1]; /* DATA bytes we may still send, per channel */
	uint32_t in_window;	       /* IN bytes the host may still send */
	uint32_t in_unacked;	       /* IN bytes consumed, not yet granted back */
	bool in_closed;		       /* the host sent CLOSE on IN */
	bool ended;
	struct agent_src src[2]; /* [0] OUT, [1] ERR */
	struct agent_sink sink;
	struct agent_grave grave;
};

/*
 * Open stream id on c for ops: a zeroed object of size bytes (a struct whose
 * first member is struct agent_stream). NULL (after an error reply) if the
 * memory or the stream table is exhausted.
 */
void *stream_new(struct agent_conn *c, uint32_t id, const struct stream_ops *ops, size_t size);
/* Make fd (owned from now on) the source of channel chan (CHAN_OUT, CHAN_ERR). */
int stream_src_open(struct agent_stream *s, uint8_t chan, int fd, bool pty);
/* Make fd (owned from now on) the sink of IN. */
int stream_sink_open(struct agent_stream *s, int fd, bool sock, bool hold);
/* Start writing to a held sink. */
void stream_sink_release(struct agent_stream *s);
/* Has the source of chan ended (or was there none)? */
bool stream_src_done(const struct agent_stream *s, uint8_t chan);
/* Send a non-final reply (takes obj). */
void stream_reply(struct agent_stream *s, json_t *obj);
/* Send a final reply (takes obj) and end the stream. */
void stream_final(struct agent_stream *s, json_t *obj);
/* Send a final error and end the stream. */
void stream_fail(struct agent_stream *s, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* End the stream without a reply: release, close its fds, free its id. */
void stream_end(struct agent_stream *s);
/* n IN bytes were consumed: grant credit when due. */
void stream_consumed(struct agent_stream *s, size_t n);
/* Re-evaluate every source of c (credit or room changed). */
void stream_update_sources(struct agent_conn *c);
/* Read once from each pumped source (regular files, which epoll cannot watch). */
void stream_pump(void);
/* Does some pumped source have work (so the loop must not sleep)? */
bool stream_pumping(void);

/* Frames from the host for an open stream. */
void stream_in_data(struct agent_stream *s, uint8_t chan, const uint8_t *p, size_t n);
void stream_in_close(struct agent_stream *s, uint8_t chan);
void stream_credit(struct agent_stream *s, uint8_t chan, uint32_t n);

/* ---- requests (agent_ctrl.c) ---- */

/* A CTRL frame's payload on stream id. */
void agent_ctrl(struct agent_conn *c, uint32_t id, const uint8_t *p, size_t n);

/* Starting each op: reply on (c, id), opening a stream if it goes on. */
void op_ping(struct agent_conn *c, uint32_t id, json_t *req);
void op_exec(struct agent_conn *c, uint32_t id, json_t *req);
void op_pty(struct agent_conn *c, uint32_t id, json_t *req);
void op_file_write(struct agent_conn *c, uint32_t id, json_t *req);
void op_file_read(struct agent_conn *c, uint32_t id, json_t *req);
void op_stat(struct agent_conn *c, uint32_t id, json_t *req);
void op_list(struct agent_conn *c, uint32_t id, json_t *req);
void op_remove(struct agent_conn *c, uint32_t id, json_t *req);
void op_relay(struct agent_conn *c, uint32_t id, json_t *req);
void op_ready(struct agent_conn *c, uint32_t id, json_t *req);
void op_quiesce(struct agent_conn *c, uint32_t id, json_t *req);
void op_restored(struct agent_conn *c, uint32_t id, json_t *req);
void op_shutdown(struct agent_conn *c, uint32_t id, json_t *req);

/* ---- processes (agent_spawn.c) ---- */

struct spawn_req {
	const char *const *argv;
	const char *const *env; /* "K=V" added to the environment; may be NULL */
	const char *cwd;	/* NULL: the agent's */
	const char *term;	/* NULL: TERM as inherited */
	bool has_uid, has_gid;	/* a uid without gid: its group from /etc/passwd, else gid = uid */
	uint32_t uid, gid;
	int fd_in, fd_out, fd_err; /* the child's stdio; -1: /dev/null */
	int tty;		   /* >= 0: setsid and make this the controlling tty */
};

/*
 * Fork and exec r->argv (PATH search). The child is the leader of a new
 * process group (a new session with a tty). Returns the pid, or -errno with
 * why in err ("chdir /x: No such file or directory", "exec y: ...").
 */
pid_t agent_spawn(const struct spawn_req *r, char *err, size_t errlen);
/* SIGKILL the process group of pid, and pid itself. */
void agent_kill_tree(pid_t pid);
/* The exit reply fields for a wait status: "status" or "signal". */
int agent_exit_json(json_t *obj, int status);

#endif
