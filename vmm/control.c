/* The control socket: connections, HTTP framing and the API's routes, on the I/O loop. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
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

#include "config.h"
#include "control.h"
#include "evloop.h"
#include "http.h"
#include "log.h"
#include "snapshot/snapshot.h"
#include "vm.h"

#define CONN_IN_MAX 4096 /* bytes read at once; leftovers of pipelined requests wait here */

struct conn {
	struct control *ctl;
	int fd; /* -1: slot free */
	struct http_msg req;
	char in[CONN_IN_MAX];
	size_t in_len;
	char *out; /* the reply being written, or NULL */
	size_t out_len, out_off;
	bool close_after; /* close once out is written */
	bool stop_after;  /* stop the VM once out is written */
	struct timespec deadline;
};

struct control {
	struct vm *vm;
	char *path;
	dev_t dev;
	ino_t ino;
	int fd;
	int timerfd;
	bool accept_paused; /* out of fds: listening resumes on the next tick */
	unsigned int nr_conns;
	struct conn conns[CONTROL_MAX_CONNS];
};

static void now_plus(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static bool expired(const struct timespec *deadline, const struct timespec *now)
{
	return now->tv_sec > deadline->tv_sec ||
	       (now->tv_sec == deadline->tv_sec && now->tv_nsec > deadline->tv_nsec);
}

/* The 1 s tick runs only while there is something to time out or to retry. */
static void timer_update(struct control *ctl)
{
	struct itimerspec its = { 0 };

	if (ctl->nr_conns || ctl->accept_paused)
		its.it_value.tv_sec = its.it_interval.tv_sec = 1;
	if (timerfd_settime(ctl->timerfd, 0, &its, NULL) < 0)
		pr_warn("control: timerfd_settime: %s", strerror(errno));
}

static void conn_close(struct conn *c)
{
	struct control *ctl = c->ctl;

	evloop_del(ctl->vm->el, c->fd);
	close(c->fd);
	c->fd = -1;
	http_msg_free(&c->req);
	free(c->out);
	c->out = NULL;
	ctl->nr_conns--;
	timer_update(ctl);
}

/* Queue a reply; JSON bodies end with a newline for terminals. */
static void reply(struct conn *c, int status, const char *json)
{
	char *body = NULL;
	bool keep = c->req.keep_alive && !c->close_after;

	if (json && asprintf(&body, "%s\n", json) < 0)
		body = NULL;
	c->out = http_response_format(status, body, keep, &c->out_len);
	c->out_off = 0;
	free(body);
	if (!keep)
		c->close_after = true;
	if (!c->out) {
		pr_warn("control: out of memory for a reply");
		c->close_after = true;
	}
}

static void __attribute__((format(printf, 3, 4)))
reply_error(struct conn *c, int status, const char *fmt, ...)
{
	char msg[640];
	char *text;
	json_t *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o = json_pack("{s:s}", "error", msg);
	if (!o) /* a client's string cut mid-UTF-8: say less */
		o = json_pack("{s:s}", "error", http_reason(status));
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	reply(c, status, text ? text : "{\"error\":\"internal error\"}");
	free(text);
}

static void reply_state(struct conn *c, int status, const char *state)
{
	char json[64];

	snprintf(json, sizeof(json), "{\"state\":\"%s\"}", state);
	reply(c, status, json);
}

/*
 * The request's body as a JSON object with exactly one string field, name.
 * Returns the field's value (valid while *root lives) or NULL after replying 400.
 */
static const char *body_field(struct conn *c, const char *name, const char *example,
			      json_t **root)
{
	json_error_t je;
	const char *key;
	json_t *v;

	*root = NULL;
	if (!c->req.body_len) {
		reply_error(c, 400, "missing body: expected %s", example);
		return NULL;
	}
	*root = json_loadb(c->req.body, c->req.body_len, JSON_REJECT_DUPLICATES, &je);
	if (!*root) {
		reply_error(c, 400, "malformed JSON at line %d column %d: %s", je.line, je.column,
			    je.text);
		return NULL;
	}
	if (!json_is_object(*root)) {
		reply_error(c, 400, "expected a JSON object like %s", example);
		return NULL;
	}
	json_object_foreach(*root, key, v) {
		if (strcmp(key, name)) {
			reply_error(c, 400, "unknown field \"%.64s\": expected %s", key, example);
			return NULL;
		}
	}
	v = json_object_get(*root, name);
	if (!v) {
		reply_error(c, 400, "missing field \"%s\": expected %s", name, example);
		return NULL;
	}
	if (!json_is_string(v)) {
		reply_error(c, 400, "field \"%s\" must be a string: expected %s", name, example);
		return NULL;
	}
	return json_string_value(v);
}

static void get_vm(struct conn *c)
{
	struct vm *vm = c->ctl->vm;
	char *cfg = config_to_json(vm->cfg);
	char *json = NULL;

	if (!cfg || asprintf(&json, "{\"state\":\"%s\",\"config\":%s}",
			     vm_state_name(vm_get_state(vm)), cfg) < 0) {
		free(cfg);
		reply_error(c, 500, "out of memory");
		return;
	}
	reply(c, 200, json);
	free(json);
	free(cfg);
}

/* PATCH /vm {"state": "paused"|"running"}: idempotent, 409 unless running or paused. */
static void patch_vm(struct conn *c)
{
	static const char example[] = "{\"state\":\"paused\"} or {\"state\":\"running\"}";
	struct vm *vm = c->ctl->vm;
	enum vm_state cur, want;
	const char *state;
	json_t *root;
	int rc;

	state = body_field(c, "state", example, &root);
	if (!state)
		goto out;
	if (!strcmp(state, "paused")) {
		want = VM_STATE_PAUSED;
	} else if (!strcmp(state, "running")) {
		want = VM_STATE_RUNNING;
	} else {
		reply_error(c, 400, "state must be \"paused\" or \"running\"");
		goto out;
	}
	cur = vm_get_state(vm);
	if (cur != VM_STATE_RUNNING && cur != VM_STATE_PAUSED) {
		reply_error(c, 409, "the VM is %s: it can be paused or resumed only while "
				    "running or paused", vm_state_name(cur));
		goto out;
	}
	rc = want == VM_STATE_PAUSED ? vm_pause(vm) : vm_resume(vm);
	if (rc == -EBUSY || rc == -ESHUTDOWN) {
		reply_error(c, 409, "the VM is %s", vm_state_name(vm_get_state(vm)));
		goto out;
	}
	if (rc < 0) {
		pr_err("control: %s failed: %s", want == VM_STATE_PAUSED ? "pause" : "resume",
		       strerror(-rc));
		reply_error(c, 500, "%s failed: %s", want == VM_STATE_PAUSED ? "pause" : "resume",
			    strerror(-rc));
		goto out;
	}
	reply_state(c, 200, vm_state_name(vm_get_state(vm)));
out:
	json_decref(root);
}

/* PUT /actions {"action":"stop"}: 202, then the VM stops once the reply is out. */
static void put_actions(struct conn *c)
{
	const char *action;
	json_t *root;

	action = body_field(c, "action", "{\"action\":\"stop\"}", &root);
	if (!action)
		goto out;
	if (strcmp(action, "stop")) {
		reply_error(c, 400, "unknown action \"%.64s\" (known: stop)", action);
		goto out;
	}
	pr_info("control: stop requested");
	c->close_after = true;
	c->stop_after = true;
	reply_state(c, 202, "stopping");
out:
	json_decref(root);
}

/* The snapshot request's fields: strings, all known, none missing but "type". */
static int snapshot_fields(struct conn *c, json_t *root, const char **st, const char **mem,
			   bool *diff)
{
	static const char example[] =
		"{\"state_path\":\"state.bin\",\"mem_path\":\"mem.bin\",\"type\":\"full\"}";
	const char *key, *type = "full";
	json_t *v;

	if (!json_is_object(root)) {
		reply_error(c, 400, "expected a JSON object like %s", example);
		return -1;
	}
	*st = *mem = NULL;
	json_object_foreach(root, key, v) {
		const char **dst = !strcmp(key, "state_path") ? st
				   : !strcmp(key, "mem_path") ? mem
				   : !strcmp(key, "type")     ? &type
							      : NULL;

		if (!dst) {
			reply_error(c, 400, "unknown field \"%.64s\": expected %s", key, example);
			return -1;
		}
		if (!json_is_string(v) || !*json_string_value(v)) {
			reply_error(c, 400, "field \"%s\" must be a non-empty string", key);
			return -1;
		}
		*dst = json_string_value(v);
	}
	if (!*st || !*mem) {
		reply_error(c, 400, "missing field \"%s\": expected %s",
			    !*st ? "state_path" : "mem_path", example);
		return -1;
	}
	if (strcmp(type, "full") && strcmp(type, "diff")) {
		reply_error(c, 400, "type must be \"full\" or \"diff\"");
		return -1;
	}
	*diff = !strcmp(type, "diff");
	return 0;
}

/*
 * PUT /snapshot/create {"state_path","mem_path","type"}: on a paused VM, which
 * stays paused (and resumable) whatever happens. 204 when both files are in place.
 */
static void put_snapshot_create(struct conn *c)
{
	const char *st, *mem;
	json_error_t je;
	json_t *root;
	char err[512];
	bool diff;
	int rc;

	if (!c->req.body_len) {
		reply_error(c, 400, "missing body: expected {\"state_path\", \"mem_path\", "
				    "\"type\"}");
		return;
	}
	root = json_loadb(c->req.body, c->req.body_len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		reply_error(c, 400, "malformed JSON at line %d column %d: %s", je.line, je.column,
			    je.text);
		return;
	}
	if (snapshot_fields(c, root, &st, &mem, &diff) < 0)
		goto out;
	rc = snapshot_create(c->ctl->vm, st, mem, diff, err, sizeof(err));
	if (rc == -EBUSY || rc == -ENOENT)
		reply_error(c, 409, "%s", err);
	else if (rc == -EINVAL)
		reply_error(c, 400, "%s", err);
	else if (rc < 0)
		reply_error(c, 500, "snapshot failed, the VM is still paused: %s", err);
	else
		reply(c, 204, NULL);
out:
	json_decref(root);
}

static const struct route {
	const char *path;
	enum http_method method;
	void (*fn)(struct conn *c);
} routes[] = {
	{ "/vm", HTTP_GET, get_vm },
	{ "/vm", HTTP_PATCH, patch_vm },
	{ "/actions", HTTP_PUT, put_actions },
	{ "/snapshot/create", HTTP_PUT, put_snapshot_create },
};

static void route(struct conn *c)
{
	const char *method = http_method_str(c->req.method);
	bool path_known = false;

	pr_debug("control: %s %s", method, c->req.path);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(routes[i].path, c->req.path))
			continue;
		path_known = true;
		if (routes[i].method == c->req.method) {
			routes[i].fn(c);
			return;
		}
	}
	if (path_known)
		reply_error(c, 405, "method %s not allowed on %s", method, c->req.path);
	else
		reply_error(c, 404, "no such path: %.128s (see docs/api-vmm.md)", c->req.path);
}

/* Parse what has arrived; answer each complete request, one reply at a time. */
static void conn_process(struct conn *c)
{
	while (!c->out && !c->close_after && c->in_len) {
		size_t used = 0;
		int rc = http_msg_feed(&c->req, c->in, c->in_len, &used);

		memmove(c->in, c->in + used, c->in_len - used);
		c->in_len -= used;
		if (rc == 0)
			return;
		if (rc < 0) {
			c->close_after = true;
			c->in_len = 0;
			if (rc == -EMSGSIZE)
				reply_error(c, 413, "request body larger than %d bytes",
					    HTTP_MAX_BODY);
			else
				reply_error(c, http_error_status(rc), "malformed request: %s",
					    c->req.errmsg);
			return;
		}
		route(c);
		http_msg_reset(&c->req);
	}
}

/* Write what the socket takes. Returns 1 when done, 0 for EPOLLOUT, -errno on failure. */
static int conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		c->out_off += (size_t)n;
	}
	free(c->out);
	c->out = NULL;
	now_plus(&c->deadline, CONTROL_TIMEOUT_MS); /* the clock for the next request */
	return 1;
}

/* Returns false when the connection was closed. */
static bool conn_read(struct conn *c)
{
	ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0) { /* peer done sending: answer what is complete, then close */
		c->close_after = true;
		return true;
	}
	c->in_len += (size_t)n;
	conn_process(c);
	return true;
}

static void conn_event(void *opaque, uint32_t events)
{
	struct conn *c = opaque;
	int rc = 1;

	if (!c->out && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !conn_read(c)) {
		conn_close(c);
		return;
	}
	while (c->out) {
		rc = conn_flush(c);
		if (c->stop_after) { /* the reply went first (it fits any socket buffer) */
			c->stop_after = false;
			vm_request_stop(c->ctl->vm, VM_EXIT_STOP);
		}
		if (rc <= 0 || c->close_after)
			break;
		conn_process(c); /* a pipelined request may be waiting */
	}
	if (rc < 0 || (!c->out && c->close_after)) {
		conn_close(c);
		return;
	}
	evloop_mod(c->ctl->vm->el, c->fd, c->out ? EPOLLOUT : EPOLLIN);
}

static void reject_busy(int fd)
{
	static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
				   "Content-Type: application/json\r\nContent-Length: 33\r\n"
				   "Connection: close\r\n\r\n{\"error\":\"too many connections\"}\n";

	if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		pr_debug("control: 503 to a connection over the cap: %s", strerror(errno));
	close(fd);
}

static void conn_open(struct control *ctl, int fd)
{
	struct conn *c = NULL;
	int rc;

	for (unsigned int i = 0; i < CONTROL_MAX_CONNS && !c; i++)
		if (ctl->conns[i].fd < 0)
			c = &ctl->conns[i];
	if (!c) {
		pr_warn("control: %d connections already open: refusing one", CONTROL_MAX_CONNS);
		reject_busy(fd);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->ctl = ctl;
	c->fd = fd;
	http_msg_init(&c->req, HTTP_REQUEST, HTTP_MAX_BODY);
	now_plus(&c->deadline, CONTROL_TIMEOUT_MS);
	rc = evloop_add(ctl->vm->el, fd, EPOLLIN, conn_event, c);
	if (rc < 0) {
		pr_warn("control: cannot watch a connection: %s", strerror(-rc));
		reject_busy(fd);
		c->fd = -1;
		return;
	}
	ctl->nr_conns++;
	timer_update(ctl);
}

static void on_accept(void *opaque, uint32_t events)
{
	struct control *ctl = opaque;

	/* A bounded batch, so a flood of connects cannot starve the other fds. */
	for (int i = 0; i < CONTROL_MAX_CONNS; i++) {
		int fd = accept4(ctl->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			conn_open(ctl, fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			/* Level-triggered: stop listening for a tick rather than spin. */
			pr_warn("control: accept: %s: pausing for 1 s", strerror(errno));
			ctl->accept_paused = true;
			evloop_mod(ctl->vm->el, ctl->fd, 0);
			timer_update(ctl);
		} else if (errno != EAGAIN) {
			pr_warn("control: accept: %s", strerror(errno));
		}
		return;
	}
}

static void on_tick(void *opaque, uint32_t events)
{
	struct control *ctl = opaque;
	struct timespec now;
	uint64_t ticks;

	if (read(ctl->timerfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		pr_warn("control: timerfd read: %s", strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (unsigned int i = 0; i < CONTROL_MAX_CONNS; i++) {
		struct conn *c = &ctl->conns[i];

		if (c->fd >= 0 && expired(&c->deadline, &now)) {
			pr_debug("control: closing a connection idle or slow for %d ms",
				 CONTROL_TIMEOUT_MS);
			conn_close(c);
		}
	}
	if (ctl->accept_paused) {
		ctl->accept_paused = false;
		evloop_mod(ctl->vm->el, ctl->fd, EPOLLIN);
	}
	timer_update(ctl);
}

/* Remove a stale socket at path; refuse a live one or anything that is not a socket. */
static int clear_path(const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, rc;

	if (lstat(addr->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		pr_err("control: %s exists and is not a socket", addr->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 ? -errno : 0;
	close(fd);
	if (rc == 0 || rc == -EAGAIN) {
		pr_err("control: %s is in use by a running process", addr->sun_path);
		return -EADDRINUSE;
	}
	if (rc != -ECONNREFUSED) {
		pr_err("control: %s: cannot tell whether it is stale: %s", addr->sun_path,
		       strerror(-rc));
		return rc;
	}
	if (unlink(addr->sun_path) < 0 && errno != ENOENT) {
		rc = -errno;
		pr_err("control: cannot remove the stale socket %s: %s", addr->sun_path,
		       strerror(-rc));
		return rc;
	}
	return 0;
}

static int control_listen(struct control *ctl)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int rc;

	if (strlen(ctl->path) >= sizeof(addr.sun_path)) {
		pr_err("control: socket path longer than %zu bytes: %s",
		       sizeof(addr.sun_path) - 1, ctl->path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, ctl->path);
	rc = clear_path(&addr);
	if (rc < 0)
		return rc;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd < 0)
		return -errno;
	if (bind(ctl->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		pr_err("control: bind %s: %s", ctl->path, strerror(-rc));
		return rc;
	}
	/* Nobody can connect before listen(), so the mode is set in time. */
	if (chmod(ctl->path, 0600) < 0 || lstat(ctl->path, &st) < 0 ||
	    listen(ctl->fd, CONTROL_MAX_CONNS) < 0) {
		rc = -errno;
		pr_err("control: %s: %s", ctl->path, strerror(-rc));
		unlink(ctl->path);
		return rc;
	}
	ctl->dev = st.st_dev;
	ctl->ino = st.st_ino;
	return 0;
}

int control_init(struct vm *vm, const char *path, struct control **out)
{
	struct control *ctl;
	int rc;

	if (!path || !*path)
		return -EINVAL;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->vm = vm;
	ctl->fd = ctl->timerfd = -1;
	for (unsigned int i = 0; i < CONTROL_MAX_CONNS; i++)
		ctl->conns[i].fd = -1;
	ctl->path = strdup(path);
	if (!ctl->path) {
		rc = -ENOMEM;
		goto err;
	}
	ctl->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ctl->timerfd < 0) {
		rc = -errno;
		pr_err("control: timerfd_create: %s", strerror(-rc));
		goto err;
	}
	rc = control_listen(ctl);
	if (rc < 0)
		goto err;
	rc = evloop_add(vm->el, ctl->timerfd, EPOLLIN, on_tick, ctl);
	if (rc < 0)
		goto err;
	rc = evloop_add(vm->el, ctl->fd, EPOLLIN, on_accept, ctl);
	if (rc < 0) {
		evloop_del(vm->el, ctl->timerfd);
		goto err;
	}
	pr_info("control: listening on %s", path);
	*out = ctl;
	return 0;

err:
	if (ctl->fd >= 0)
		close(ctl->fd);
	if (ctl->ino) /* bound and listening: the socket file is ours */
		unlink(ctl->path);
	if (ctl->timerfd >= 0)
		close(ctl->timerfd);
	free(ctl->path);
	free(ctl);
	return rc;
}

void control_exit(struct control *ctl)
{
	struct stat st;

	if (!ctl)
		return;
	for (unsigned int i = 0; i < CONTROL_MAX_CONNS; i++)
		if (ctl->conns[i].fd >= 0)
			conn_close(&ctl->conns[i]);
	evloop_del(ctl->vm->el, ctl->fd);
	evloop_del(ctl->vm->el, ctl->timerfd);
	close(ctl->fd);
	close(ctl->timerfd);
	/* Only our own socket: another VMM may have taken the path since. */
	if (!lstat(ctl->path, &st) && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
		unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}
