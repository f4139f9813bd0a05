/* The agent's CTRL frames: decoding requests, the op table, cancel/signal/resize on open streams.
 */
#include <errno.h>
#include <string.h>

#include "agent_int.h"
#include "agent_req.h"

struct op_entry {
	const char *name;
	void (*start)(struct agent_conn *c, uint32_t id, json_t *req);
};

static const struct op_entry op_table[] = {
    {"ping", op_ping},
    {"exec", op_exec},
    {"pty", op_pty},
    {"file_write", op_file_write},
    {"file_read", op_file_read},
    {"stat", op_stat},
    {"list", op_list},
    {"remove", op_remove},
    {"relay", op_relay},
    {"ready", op_ready},
    {"quiesce", op_quiesce},
    {"restored", op_restored},
    {"shutdown", op_shutdown},
};

/* Ops that act on an open stream rather than open one. */
static bool is_stream_op(const char *op)
{
	return !strcmp(op, "cancel") || !strcmp(op, "signal") || !strcmp(op, "resize");
}

static void stream_ctrl(struct agent_stream *s, const char *op, json_t *req)
{
	struct req_err e;
	unsigned rows, cols;
	int sig, rc;

	if (!strcmp(op, "cancel")) {
		stream_fail(s, ECANCELED, "cancelled");
	} else if (!strcmp(op, "signal")) {
		if (!s->ops->signal)
			stream_fail(s, EINVAL, "signal: stream %u is a %s, not exec or pty", s->id,
				    s->ops->op);
		else if (req_signal_parse(req, &sig, &e))
			stream_fail(s, EINVAL, "signal: %s", e.msg);
		else if ((rc = s->ops->signal(s, sig)) < 0)
			stream_fail(s, -rc, "signal %d: %s", sig, strerror(-rc));
	} else if (!strcmp(op, "resize")) {
		if (!s->ops->resize)
			stream_fail(s, EINVAL, "resize: stream %u is a %s, not pty", s->id,
				    s->ops->op);
		else if (req_resize_parse(req, &rows, &cols, &e))
			stream_fail(s, EINVAL, "resize: %s", e.msg);
		else if ((rc = s->ops->resize(s, rows, cols)) < 0)
			stream_fail(s, -rc, "resize: %s", strerror(-rc));
	} else {
		stream_fail(s, EINVAL, "stream %u is in use (%s)", s->id, s->ops->op);
	}
}

static const struct op_entry *op_find(const char *op)
{
	for (size_t i = 0; i < ARRAY_SIZE(op_table); i++)
		if (!strcmp(op_table[i].name, op))
			return &op_table[i];
	return NULL;
}

void agent_ctrl(struct agent_conn *c, uint32_t id, const uint8_t *p, size_t n)
{
	struct agent_stream *s = id ? conn_stream(c, id) : NULL;
	const struct op_entry *entry;
	struct req_err e;
	const char *op;
	json_t *req;

	req = req_load(p, n, &op, &e);
	if (!req) {
		if (s)
			stream_fail(s, EINVAL, "%s", e.msg);
		else
			conn_reply_error(c, id, EINVAL, "%s", e.msg);
		return;
	}
	if (s)
		stream_ctrl(s, op, req);
	else if (!id)
		conn_reply_error(c, 0, EINVAL,
				 "stream 0 takes no requests: use a stream id from 1");
	else if (is_stream_op(op))
		; /* the stream has ended already: nothing left to act on */
	else if (c->nstreams >= AGENT_MAX_STREAMS)
		conn_reply_error(c, id, EBUSY, "too many streams on this connection (%d)",
				 AGENT_MAX_STREAMS);
	else if ((entry = op_find(op)))
		entry->start(c, id, req);
	else
		conn_reply_error(c, id, EINVAL, "unknown op \"%.64s\"", op);
	json_decref(req);
}
