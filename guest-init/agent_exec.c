/* The agent's exec and pty ops: a process on pipes or a pty; timeout, signal, resize, exit. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "agent_int.h"
#include "agent_req.h"

struct exec_stream {
	struct agent_stream s;
	struct agent_child child;
	struct agent_timer timer;
	bool exited, timed_out;
	int status;
};

static struct exec_stream *to_exec(struct agent_stream *s)
{
	return container_of(s, struct exec_stream, s);
}

/* The final reply once the process was reaped and its outputs were all sent. */
static void exec_check_done(struct exec_stream *x)
{
	json_t *o;

	if (!x->exited || !stream_src_done(&x->s, CHAN_OUT) || !stream_src_done(&x->s, CHAN_ERR))
		return;
	o = json_pack("{s:s}", "type", "exit");
	if (o && (agent_exit_json(o, x->status) < 0 ||
		  (x->timed_out && json_object_set_new(o, "timed_out", json_true()) < 0))) {
		json_decref(o);
		o = NULL; /* stream_final() sends an out-of-memory error instead */
	}
	stream_final(&x->s, o);
}

static void exec_exited(struct agent_child *c, int status)
{
	struct exec_stream *x = container_of(c, struct exec_stream, child);

	x->exited = true;
	x->status = status;
	agent_timer_close(&x->timer);
	exec_check_done(x);
}

static void exec_src_done(struct agent_stream *s, struct agent_src *src, int err)
{
	exec_check_done(to_exec(s));
}

static void exec_timeout(struct agent_timer *t)
{
	struct exec_stream *x = container_of(t, struct exec_stream, timer);

	if (agent_child_live(&x->child)) {
		x->timed_out = true;
		agent_kill_tree(x->child.pid);
	}
}

static int exec_signal(struct agent_stream *s, int sig)
{
	struct exec_stream *x = to_exec(s);

	if (!agent_child_live(&x->child))
		return 0; /* exited: its exit reply is on the way */
	return kill(x->child.pid, sig) < 0 ? -errno : 0;
}

static int pty_resize(struct agent_stream *s, unsigned rows, unsigned cols)
{
	struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};

	if (stream_src_done(s, CHAN_OUT))
		return 0;
	return ioctl(s->src[0].w.fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0; /* SIGWINCH to its group */
}

static void exec_release(struct agent_stream *s)
{
	struct exec_stream *x = to_exec(s);

	if (agent_child_live(&x->child)) {
		agent_kill_tree(x->child.pid);
		agent_child_forget(&x->child);
	}
	agent_timer_close(&x->timer);
}

static const struct stream_ops exec_ops = {
    .op = "exec",
    .src_done = exec_src_done,
    .signal = exec_signal,
    .release = exec_release,
};

static const struct stream_ops pty_ops = {
    .op = "pty",
    .src_done = exec_src_done,
    .signal = exec_signal,
    .resize = pty_resize,
    .release = exec_release,
};

static void spawn_req_from(struct spawn_req *sp, const struct req_exec *r)
{
	memset(sp, 0, sizeof(*sp));
	sp->argv = r->argv;
	sp->env = r->env;
	sp->cwd = r->cwd;
	sp->has_uid = r->has_uid;
	sp->has_gid = r->has_gid;
	sp->uid = r->uid;
	sp->gid = r->gid;
	sp->tty = -1;
}

/* After the spawn: wait for it, kill it at the timeout, say it started. */
static void exec_started(struct exec_stream *x, pid_t pid, const struct req_exec *r)
{
	int rc;

	agent_child_add(&x->child, pid, exec_exited);
	if (r->timeout_ms) {
		rc = agent_timer_open(&x->timer, exec_timeout);
		if (!rc)
			rc = agent_timer_arm(&x->timer, r->timeout_ms);
		if (rc < 0) {
			stream_fail(&x->s, -rc, "timer: %s", strerror(-rc));
			return;
		}
	}
	stream_reply(&x->s, json_pack("{s:s,s:i}", "type", "started", "pid", (int)pid));
}

static void close_fds(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Pipes: p[0..1] stdin (if open), p[2..3] stdout, p[4..5] stderr; [even] read, [odd] write ends. */
static int exec_pipes(int p[6], bool with_in)
{
	for (int i = 0; i < 6; i++)
		p[i] = -1;
	if ((with_in && pipe2(p, O_CLOEXEC) < 0) || pipe2(p + 2, O_CLOEXEC) < 0 ||
	    pipe2(p + 4, O_CLOEXEC) < 0) {
		int rc = -errno;

		close_fds(p, 6);
		return rc;
	}
	return 0;
}

void op_exec(struct agent_conn *c, uint32_t id, json_t *req)
{
	struct exec_stream *x;
	struct spawn_req sp;
	struct req_exec r;
	struct req_err e;
	char err[512];
	int p[6], rc;
	pid_t pid;

	if (req_exec_parse(req, false, &r, &e)) {
		conn_reply_error(c, id, EINVAL, "exec: %s", e.msg);
		return;
	}
	x = stream_new(c, id, &exec_ops, sizeof(*x));
	if (!x)
		goto out;
	agent_watch_init(&x->timer.w);
	rc = exec_pipes(p, r.stdin_open);
	if (rc < 0) {
		stream_fail(&x->s, -rc, "pipe: %s", strerror(-rc));
		goto out;
	}
	spawn_req_from(&sp, &r);
	sp.fd_in = p[0];
	sp.fd_out = p[3];
	sp.fd_err = p[5];
	pid = agent_spawn(&sp, err, sizeof(err));
	close_fds((int[]){p[0], p[3], p[5]}, 3); /* the child's ends */
	if (pid < 0) {
		close_fds((int[]){p[1], p[2], p[4]}, 3);
		stream_fail(&x->s, -pid, "%s", err);
		goto out;
	}
	rc = stream_sink_open(&x->s, p[1], false, false); /* p[1] -1 without stdin: dropped */
	if (!rc)
		rc = stream_src_open(&x->s, CHAN_OUT, p[2], false);
	else
		close(p[2]);
	if (!rc)
		rc = stream_src_open(&x->s, CHAN_ERR, p[4], false);
	else
		close(p[4]);
	if (rc < 0) {
		agent_kill_tree(pid);
		stream_fail(&x->s, -rc, "exec: %s", strerror(-rc));
		goto out;
	}
	exec_started(x, pid, &r);
out:
	req_exec_free(&r);
}

/* A pty pair: the master (ours, non-blocking) and the slave (the child's), with its size. */
static int pty_open(unsigned rows, unsigned cols, int *master, int *slave)
{
	struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
	char name[64];
	int rc, m;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return -errno;
	if (grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) != 0)
		goto err;
	if (ioctl(m, TIOCSWINSZ, &ws) < 0)
		goto err;
	*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*slave < 0)
		goto err;
	*master = m;
	return 0;
err:
	rc = errno ? -errno : -EIO;
	close(m);
	return rc;
}

void op_pty(struct agent_conn *c, uint32_t id, json_t *req)
{
	struct exec_stream *x;
	struct spawn_req sp;
	struct req_exec r;
	struct req_err e;
	int m = -1, sl = -1, in, rc;
	char err[512];
	pid_t pid;

	if (req_exec_parse(req, true, &r, &e)) {
		conn_reply_error(c, id, EINVAL, "pty: %s", e.msg);
		return;
	}
	x = stream_new(c, id, &pty_ops, sizeof(*x));
	if (!x)
		goto out;
	agent_watch_init(&x->timer.w);
	rc = pty_open(r.rows, r.cols, &m, &sl);
	if (rc < 0) {
		stream_fail(&x->s, -rc, "pty: %s", strerror(-rc));
		goto out;
	}
	spawn_req_from(&sp, &r);
	sp.fd_in = sp.fd_out = sp.fd_err = sp.tty = sl;
	sp.term = r.term;
	pid = agent_spawn(&sp, err, sizeof(err));
	close(sl);
	if (pid < 0) {
		close(m);
		stream_fail(&x->s, -pid, "%s", err);
		goto out;
	}
	in = fcntl(m, F_DUPFD_CLOEXEC, 3); /* the sink's own fd on the same master */
	rc = in < 0 ? -errno : stream_sink_open(&x->s, in, false, false);
	if (!rc)
		rc = stream_src_open(&x->s, CHAN_OUT, m, true);
	else
		close(m);
	if (rc < 0) {
		agent_kill_tree(pid);
		stream_fail(&x->s, -rc, "pty: %s", strerror(-rc));
		goto out;
	}
	exec_started(x, pid, &r);
out:
	req_exec_free(&r);
}
