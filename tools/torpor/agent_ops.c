/* The agent client's blocking helpers: one request, wait for its end. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent_int.h"

/* What a blocking helper learns from its stream. */
struct wait_ctx {
	bool done;
	enum agent_end_kind kind;
	int err;
	bool local;
	int status, signal;
	bool timed_out;
	json_t *reply;   /* the final reply (a reference) */
	json_t *started; /* a "started" reply (a reference) */
	char error[256];
	uint64_t in_total, out_total;
};

static void wait_reply(struct agent_stream *s, json_t *msg, void *arg)
{
	struct wait_ctx *w = arg;
	const char *type = json_string_value(json_object_get(msg, "type"));

	if (type && !strcmp(type, "started") && !w->started)
		w->started = json_incref(msg);
}

static void wait_end(struct agent_stream *s, const struct agent_end *e, void *arg)
{
	struct wait_ctx *w = arg;

	w->done = true;
	w->kind = e->kind;
	w->err = e->err;
	w->local = e->local;
	w->status = e->status;
	w->signal = e->signal;
	w->timed_out = e->timed_out;
	if (e->msg)
		w->reply = json_incref(e->msg);
	if (e->error)
		snprintf(w->error, sizeof(w->error), "%s", e->error);
	if (s->io) {
		w->in_total = s->io->in_total;
		w->out_total = s->io->out_total[CHAN_OUT];
	}
}

static const struct agent_stream_ops wait_ops = {
	.on_reply = wait_reply,
	.on_end = wait_end,
};

static void wait_free(struct wait_ctx *w)
{
	json_decref(w->reply);
	json_decref(w->started);
}

static int open_failed(struct agent_conn *c, const char *op, char *err, size_t errlen)
{
	int rc = -errno;

	if (agent_conn_status(c))
		agent__errf(err, errlen, "%s", agent_conn_error(c));
	else if (rc == -EMFILE)
		agent__errf(err, errlen, "%s: too many requests open on this connection (%d)", op,
			    AGENT_MAX_STREAMS);
	else
		agent__errf(err, errlen, "%s: cannot send the request: %s", op, strerror(-rc));
	return rc;
}

/* Wait for w's stream s; on a timeout, detach it. Returns 0 once it ended. */
static int wait_done(struct agent_conn *c, struct agent_stream *s, struct wait_ctx *w,
		     int timeout_ms, const char *op, char *err, size_t errlen)
{
	int rc = agent_conn_run_until(c, &w->done, timeout_ms);

	if (rc == -ETIMEDOUT) {
		agent_stream_detach(s);
		agent__errf(err, errlen, "%s: no answer from the agent within %d ms", op,
			    timeout_ms);
		return rc;
	}
	if (rc < 0 && !w->done) {
		agent__errf(err, errlen, "%s", agent_conn_error(c));
		return rc;
	}
	return 0;
}

/* The end in w as 0 (result) or -errno with a message. */
static int wait_result(struct wait_ctx *w, const char *op, char *err, size_t errlen)
{
	switch (w->kind) {
	case AGENT_END_RESULT:
		return 0;
	case AGENT_END_ERROR:
		agent__errf(err, errlen, "%s: %s", op, w->error);
		return -(w->err ? w->err : EREMOTEIO);
	case AGENT_END_EXIT:
		break;
	}
	agent__errf(err, errlen, "%s: the agent answered with an unexpected \"exit\"", op);
	return -EPROTO;
}

static const char *op_name(const json_t *req)
{
	const char *op = json_string_value(json_object_get(req, "op"));

	return op ? op : "request";
}

int agent_request(struct agent_conn *c, const json_t *req, int timeout_ms, json_t **reply,
		  char *err, size_t errlen)
{
	struct wait_ctx w = { 0 };
	const char *op = op_name(req);
	struct agent_stream *s;
	int rc;

	if (reply)
		*reply = NULL;
	s = agent_stream_open(c, req, &wait_ops, &w);
	if (!s)
		return open_failed(c, op, err, errlen);
	rc = wait_done(c, s, &w, timeout_ms, op, err, errlen);
	if (!rc)
		rc = wait_result(&w, op, err, errlen);
	if (!rc && reply) {
		*reply = w.reply;
		w.reply = NULL;
	}
	wait_free(&w);
	return rc;
}

/* agent_request() with a request built by json_pack (NULL: out of memory). */
static int request_new(struct agent_conn *c, json_t *req, int timeout_ms, json_t **reply,
		       char *err, size_t errlen)
{
	int rc;

	if (!req) {
		agent__errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = agent_request(c, req, timeout_ms, reply, err, errlen);
	json_decref(req);
	return rc;
}

static uint64_t get_u64(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
							       : 0;
}

int agent_ping(struct agent_conn *c, int timeout_ms, struct agent_ping *p, char *err,
	       size_t errlen)
{
	json_t *r;
	const char *v;
	int rc = request_new(c, json_pack("{s:s}", "op", "ping"), timeout_ms, &r, err, errlen);

	memset(p, 0, sizeof(*p));
	if (rc < 0)
		return rc;
	p->uptime_ms = get_u64(r, "uptime_ms");
	p->proto = (int)get_u64(r, "proto");
	v = json_string_value(json_object_get(r, "version"));
	snprintf(p->version, sizeof(p->version), "%s", v ? v : "unknown");
	json_decref(r);
	return 0;
}

int agent_stat(struct agent_conn *c, const char *path, int timeout_ms, struct agent_stat *st,
	       char *err, size_t errlen)
{
	json_t *r, *v;
	const char *t;
	int rc = request_new(c, json_pack("{s:s,s:s}", "op", "stat", "path", path), timeout_ms,
			     &r, err, errlen);

	memset(st, 0, sizeof(*st));
	if (rc < 0)
		return rc;
	/*
	 * The file's type: "file_type" ("type" is the reply's own), else from
	 * the S_IFMT bits of "mode" when the agent sends the whole st_mode.
	 */
	st->mode = (uint32_t)get_u64(r, "mode");
	t = json_string_value(json_object_get(r, "file_type"));
	if (!t)
		t = S_ISDIR(st->mode) ? "dir" : S_ISREG(st->mode) ? "file"
					  : S_ISLNK(st->mode) ? "link" : "other";
	snprintf(st->type, sizeof(st->type), "%s", t);
	st->mode &= 07777;
	st->size = get_u64(r, "size");
	st->uid = (uint32_t)get_u64(r, "uid");
	st->gid = (uint32_t)get_u64(r, "gid");
	v = json_object_get(r, "mtime_ns");
	st->mtime_ns = json_is_integer(v) ? json_integer_value(v) : 0;
	json_decref(r);
	return 0;
}

int agent_list(struct agent_conn *c, const char *path, int timeout_ms, json_t **entries,
	       bool *truncated, char *err, size_t errlen)
{
	json_t *r, *e;
	int rc = request_new(c, json_pack("{s:s,s:s}", "op", "list", "path", path), timeout_ms,
			     &r, err, errlen);

	*entries = NULL;
	if (truncated)
		*truncated = false;
	if (rc < 0)
		return rc;
	e = json_object_get(r, "entries");
	if (!json_is_array(e)) {
		json_decref(r);
		agent__errf(err, errlen, "list: the agent's answer has no \"entries\" array");
		return -EPROTO;
	}
	*entries = json_incref(e);
	if (truncated)
		*truncated = json_is_true(json_object_get(r, "truncated"));
	json_decref(r);
	return 0;
}

int agent_remove(struct agent_conn *c, const char *path, bool recursive, int timeout_ms,
		 char *err, size_t errlen)
{
	return request_new(c, json_pack("{s:s,s:s,s:b}", "op", "remove", "path", path,
					"recursive", recursive),
			   timeout_ms, NULL, err, errlen);
}

int agent_ready(struct agent_conn *c, unsigned port, unsigned agent_timeout_ms, char *err,
		size_t errlen)
{
	json_t *req = json_pack("{s:s}", "op", "ready");
	int wait_ms = (agent_timeout_ms ? (int)agent_timeout_ms : 10000) + 10000;

	if (req && port)
		json_object_set_new(req, "port", json_integer(port));
	if (req && agent_timeout_ms)
		json_object_set_new(req, "timeout_ms", json_integer(agent_timeout_ms));
	return request_new(c, req, wait_ms, NULL, err, errlen);
}

/* Run a request with data through a bridge; the end in *w. */
static int run_bridged(struct agent_conn *c, json_t *req, int in_fd, int out_fd, int err_fd,
		       unsigned flags, int timeout_ms, struct wait_ctx *w, char *err,
		       size_t errlen)
{
	const char *op = op_name(req);
	struct agent_stream *s;
	int rc;

	if (!req) {
		agent__errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s = agent_stream_open(c, req, &wait_ops, w);
	if (!s)
		return open_failed(c, op, err, errlen);
	if (!w->done) {
		rc = agent_stream_bridge(s, in_fd, out_fd, err_fd, flags);
		if (rc < 0) {
			agent_stream_detach(s);
			agent__errf(err, errlen, "%s: %s", op, strerror(-rc));
			return rc;
		}
	}
	return wait_done(c, s, w, timeout_ms, op, err, errlen);
}

int agent_file_write(struct agent_conn *c, const char *path, int fd, unsigned mode, long uid,
		     long gid, int timeout_ms, uint64_t *size, char *err, size_t errlen)
{
	struct wait_ctx w = { 0 };
	json_t *req = json_pack("{s:s,s:s,s:I}", "op", "file_write", "path", path, "mode",
				(json_int_t)(mode & 07777));
	int rc;

	if (req && uid >= 0)
		json_object_set_new(req, "uid", json_integer(uid));
	if (req && gid >= 0)
		json_object_set_new(req, "gid", json_integer(gid));
	rc = run_bridged(c, req, fd, -1, -1, 0, timeout_ms, &w, err, errlen);
	json_decref(req);
	if (!rc)
		rc = wait_result(&w, path, err, errlen);
	if (!rc && get_u64(w.reply, "size") != w.in_total) {
		agent__errf(err, errlen, "%s: sent %llu bytes but the agent wrote %llu", path,
			    (unsigned long long)w.in_total,
			    (unsigned long long)get_u64(w.reply, "size"));
		rc = -EIO;
	}
	if (size)
		*size = w.in_total;
	wait_free(&w);
	return rc;
}

int agent_file_read(struct agent_conn *c, const char *path, int fd, int timeout_ms,
		    unsigned *mode, uint64_t *size, char *err, size_t errlen)
{
	struct wait_ctx w = { 0 };
	json_t *req = json_pack("{s:s,s:s}", "op", "file_read", "path", path);
	int rc;

	rc = run_bridged(c, req, -1, fd, -1, 0, timeout_ms, &w, err, errlen);
	json_decref(req);
	if (!rc)
		rc = wait_result(&w, path, err, errlen);
	if (!rc && get_u64(w.reply, "size") != w.out_total) {
		agent__errf(err, errlen, "%s: the agent sent %llu bytes but reported %llu", path,
			    (unsigned long long)w.out_total,
			    (unsigned long long)get_u64(w.reply, "size"));
		rc = -EIO;
	}
	if (mode)
		*mode = (unsigned)get_u64(w.started, "mode") & 07777;
	if (size)
		*size = w.out_total;
	wait_free(&w);
	return rc;
}

static json_t *str_array(const char *const *v)
{
	json_t *a = json_array();

	for (; a && v && *v; v++) {
		if (json_array_append_new(a, json_string(*v)) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *agent_exec_request(const struct agent_exec_opts *o)
{
	json_t *req = json_pack("{s:s}", "op", o->pty ? "pty" : "exec");
	int bad = !req;

	if (!o->pty && (!o->argv || !o->argv[0])) {
		json_decref(req);
		return NULL;
	}
	if (o->argv && o->argv[0])
		bad |= json_object_set_new(req, "argv", str_array(o->argv));
	if (o->env && o->env[0])
		bad |= json_object_set_new(req, "env", str_array(o->env));
	if (o->cwd)
		bad |= json_object_set_new(req, "cwd", json_string(o->cwd));
	if (o->uid >= 0)
		bad |= json_object_set_new(req, "uid", json_integer(o->uid));
	if (o->gid >= 0)
		bad |= json_object_set_new(req, "gid", json_integer(o->gid));
	if (o->pty) {
		if (o->rows)
			bad |= json_object_set_new(req, "rows", json_integer(o->rows));
		if (o->cols)
			bad |= json_object_set_new(req, "cols", json_integer(o->cols));
		if (o->term)
			bad |= json_object_set_new(req, "term", json_string(o->term));
	} else {
		if (o->timeout_ms)
			bad |= json_object_set_new(req, "timeout_ms", json_integer(o->timeout_ms));
		if (o->no_stdin)
			bad |= json_object_set_new(req, "stdin", json_false());
	}
	if (bad) {
		json_decref(req);
		return NULL;
	}
	return req;
}

int agent_exec(struct agent_conn *c, const struct agent_exec_opts *o, int in_fd, int out_fd,
	       int err_fd, int timeout_ms, struct agent_end *ex, char *err, size_t errlen)
{
	struct agent_exec_opts opts = *o;
	struct wait_ctx w = { 0 };
	json_t *req;
	int rc;

	if (in_fd < 0)
		opts.no_stdin = true; /* nothing would ever end its input */
	req = agent_exec_request(&opts);
	memset(ex, 0, sizeof(*ex));
	if (!req) {
		agent__errf(err, errlen, "exec: bad request (no argv?)");
		return -EINVAL;
	}
	rc = run_bridged(c, req, in_fd, out_fd, err_fd, AGENT_BRIDGE_SIGPIPE, timeout_ms, &w, err,
			 errlen);
	json_decref(req);
	if (rc < 0) {
		wait_free(&w);
		return rc;
	}
	ex->kind = w.kind;
	ex->status = w.status;
	ex->signal = w.signal;
	ex->timed_out = w.timed_out;
	ex->err = w.err;
	ex->local = w.local;
	if (w.kind == AGENT_END_ERROR)
		agent__errf(err, errlen, "%s", w.error);
	wait_free(&w);
	return 0;
}

/* --- Exit codes and errno names ------------------------------------------- */

int agent_end_exit_code(const struct agent_end *e)
{
	switch (e->kind) {
	case AGENT_END_RESULT:
		return 0;
	case AGENT_END_EXIT:
		if (e->timed_out)
			return 124;
		if (e->signal)
			return 128 + e->signal;
		return e->status >= 0 ? e->status : 125;
	case AGENT_END_ERROR:
		if (e->local)
			return 125;
		if (e->err == ENOENT)
			return 127;
		if (e->err == EACCES || e->err == ENOEXEC || e->err == EPERM || e->err == EISDIR)
			return 126;
		return 125;
	}
	return 125;
}

int agent_errno_from_name(const char *name)
{
	static const struct {
		const char *name;
		int err;
	} t[] = {
#define E(x) { #x, x }
		E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG),
		E(ENOEXEC), E(EBADF), E(ECHILD), E(EAGAIN), E(ENOMEM), E(EACCES), E(EFAULT),
		E(EBUSY), E(EEXIST), E(EXDEV), E(ENODEV), E(ENOTDIR), E(EISDIR), E(EINVAL),
		E(ENFILE), E(EMFILE), E(ENOTTY), E(ETXTBSY), E(EFBIG), E(ENOSPC), E(ESPIPE),
		E(EROFS), E(EMLINK), E(EPIPE), E(ERANGE), E(ENAMETOOLONG), E(ENOSYS),
		E(ENOTEMPTY), E(ELOOP), E(EOVERFLOW), E(EPROTO), E(ENOTSUP), E(EOPNOTSUPP),
		E(EADDRINUSE), E(EADDRNOTAVAIL), E(ENETUNREACH), E(ECONNABORTED),
		E(ECONNRESET), E(ETIMEDOUT), E(ECONNREFUSED), E(EHOSTUNREACH), E(ECANCELED),
		E(EDQUOT), E(ENOTCONN),
#undef E
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(t[i].name, name))
			return t[i].err;
	return 0;
}
