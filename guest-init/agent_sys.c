/* The agent's system ops: ping, quiesce, restored (entropy, clock, hook), shutdown; app.json. */
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "agent_int.h"
#include "agent_req.h"
#include "appcfg.h"
#include "procfs.h"

#ifndef TORPOR_VERSION
#define TORPOR_VERSION "unknown"
#endif

#define HOOK_TIMEOUT_MS 30000 /* the restored hook is killed after this */

void op_ping(struct agent_conn *c, uint32_t id, json_t *req)
{
	uint64_t ms = 0;

	procfs_uptime_ms(&ms);
	conn_send_json(c, id,
		       json_pack("{s:s,s:I,s:s,s:i,s:i}", "type", "result", "uptime_ms",
				 (json_int_t)ms, "version", TORPOR_VERSION, "proto",
				 AGENT_PROTO_VERSION, "agent_pid", (int)getpid()));
}

void op_quiesce(struct agent_conn *c, uint32_t id, json_t *req)
{
	sync();
	conn_send_json(c, id, json_pack("{s:s}", "type", "result"));
}

void op_shutdown(struct agent_conn *c, uint32_t id, json_t *req)
{
	conn_send_json(c, id, json_pack("{s:s}", "type", "result"));
	conn_flush(c); /* PID 1 stops everything, the agent too */
	if (kill(1, SIGTERM) < 0 && !c->dead)
		conn_reply_error(c, 0, errno, "shutdown: kill 1: %s", strerror(errno));
}

/* ---- restored ---- */

struct restored_stream {
	struct agent_stream s;
	struct agent_child child;
	struct agent_timer timer;
	bool timed_out;
};

static void hook_exited(struct agent_child *ch, int status)
{
	struct restored_stream *x = container_of(ch, struct restored_stream, child);
	json_t *hook = json_object();

	if (hook && x->timed_out)
		json_object_set_new(hook, "timed_out", json_true());
	if (hook && agent_exit_json(hook, status) < 0) {
		json_decref(hook);
		hook = NULL;
	}
	stream_final(&x->s, hook ? json_pack("{s:s,s:o}", "type", "result", "hook", hook) : NULL);
}

static void hook_timeout(struct agent_timer *t)
{
	struct restored_stream *x = container_of(t, struct restored_stream, timer);

	if (agent_child_live(&x->child)) {
		x->timed_out = true;
		agent_kill_tree(x->child.pid);
	}
}

static void restored_release(struct agent_stream *s)
{
	struct restored_stream *x = container_of(s, struct restored_stream, s);

	if (agent_child_live(&x->child)) {
		agent_kill_tree(x->child.pid);
		agent_child_forget(&x->child);
	}
	agent_timer_close(&x->timer);
}

static const struct stream_ops restored_ops = {
    .op = "restored",
    .release = restored_release,
};

/* Mix the bytes into the input pool, credited, and reseed the CRNG from it. */
static int add_entropy(const uint8_t *p, size_t n, const char **what)
{
	struct rand_pool_info *info;
	int fd, rc = 0;

	*what = "open /dev/urandom";
	fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	info = malloc(sizeof(*info) + n);
	if (!info) {
		rc = -ENOMEM;
		goto out_close;
	}
	info->entropy_count = (int)(n * 8);
	info->buf_size = (int)n;
	memcpy(info->buf, p, n);
	*what = "RNDADDENTROPY";
	if (ioctl(fd, RNDADDENTROPY, info) < 0) {
		rc = -errno;
		goto out_free;
	}
	*what = "RNDRESEEDCRNG";
	if (ioctl(fd, RNDRESEEDCRNG) < 0)
		rc = -errno;
out_free:
	free(info);
out_close:
	close(fd);
	return rc;
}

static int set_clock(int64_t ns)
{
	struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};

	return clock_settime(CLOCK_REALTIME, &ts) < 0 ? -errno : 0;
}

/* The app's restored hook, if app.json declares one: 1 if it runs, 0 if none, or -errno. */
static int run_hook(struct restored_stream *x, char *err, size_t errlen)
{
	struct spawn_req sp = {.fd_in = -1, .fd_out = 1, .fd_err = 2, .tty = -1};
	struct appcfg app;
	pid_t pid;
	int rc = appcfg_load(APPCFG_PATH, &app, err, errlen);

	if (rc < 0 || !app.hook_restored) {
		appcfg_free(&app);
		return rc == -ENOENT ? 0 : rc;
	}
	sp.argv = (const char *const *)app.hook_restored;
	pid = agent_spawn(&sp, err, errlen);
	appcfg_free(&app);
	if (pid < 0)
		return pid;
	agent_child_add(&x->child, pid, hook_exited);
	rc = agent_timer_open(&x->timer, hook_timeout);
	if (!rc)
		rc = agent_timer_arm(&x->timer, HOOK_TIMEOUT_MS);
	if (rc < 0)
		snprintf(err, errlen, "restored hook: timer: %s", strerror(-rc));
	return rc < 0 ? rc : 1;
}

void op_restored(struct agent_conn *c, uint32_t id, json_t *req)
{
	struct restored_stream *x;
	struct req_restored r;
	struct req_err e;
	const char *what;
	char err[512];
	int rc;

	if (req_restored_parse(req, &r, &e)) {
		conn_reply_error(c, id, EINVAL, "restored: %s", e.msg);
		return;
	}
	if (r.has_entropy && (rc = add_entropy(r.entropy, r.entropy_len, &what)) < 0) {
		conn_reply_error(c, id, -rc, "restored: %s: %s", what, strerror(-rc));
		return;
	}
	if (r.has_time && (rc = set_clock(r.time_ns)) < 0) {
		conn_reply_error(c, id, -rc, "restored: clock_settime: %s", strerror(-rc));
		return;
	}
	x = stream_new(c, id, &restored_ops, sizeof(*x));
	if (!x)
		return;
	agent_watch_init(&x->timer.w);
	rc = run_hook(x, err, sizeof(err));
	if (rc < 0)
		stream_fail(&x->s, -rc, "restored: %s", err);
	else if (rc == 0)
		stream_final(&x->s, json_pack("{s:s}", "type", "result"));
}
