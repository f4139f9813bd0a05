/* The agent's event loop: epoll, the vsock listener, SIGCHLD and reaping, timers, deferred free. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h> /* before linux/vm_sockets.h, which needs struct sockaddr */
#include <linux/vm_sockets.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agent_int.h"
#include "log.h"

#define AGENT_NOFILE	(1u << 17) /* fd limit the agent raises itself to */
#define AGENT_BACKLOG	128
#define LISTEN_RETRY_MS 1000 /* the listening socket could not be made */
#define ACCEPT_RETRY_MS 100  /* out of fds: try accepting again after this */
#define EVENTS_PER_WAIT 64

struct agent {
	int epfd;
	struct agent_watch sig;	      /* signalfd: SIGCHLD */
	struct agent_watch lsn;	      /* the vsock listener */
	struct agent_timer lsn_retry; /* make or resume the listener */
	bool lsn_warned;
	struct list graves;
	struct list children;
	struct rlimit nofile; /* as inherited, for children */
	bool nofile_saved;
};

static struct agent ag = {
    .epfd = -1,
    .graves = {&ag.graves, &ag.graves},
    .children = {&ag.children, &ag.children},
};

int64_t agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int epoll_op(int op, struct agent_watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	return epoll_ctl(ag.epfd, op, w->fd, &ev) < 0 ? -errno : 0;
}

int agent_watch_add(struct agent_watch *w, int fd, uint32_t events, agent_watch_fn *fn)
{
	int rc;

	w->fd = fd;
	w->fn = fn;
	w->events = 0;
	if (!events)
		return 0;
	rc = epoll_op(EPOLL_CTL_ADD, w, events);
	if (rc < 0) {
		w->fd = -1;
		w->fn = NULL;
		return rc;
	}
	w->events = events;
	return 0;
}

/* Events 0 takes the fd out of the set, so HUP/ERR (always reported) cannot spin. */
void agent_watch_set(struct agent_watch *w, uint32_t events)
{
	int rc;

	if (!w->fn || w->fd < 0 || events == w->events)
		return;
	if (!events)
		rc = epoll_op(EPOLL_CTL_DEL, w, 0);
	else
		rc = epoll_op(w->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w, events);
	if (rc < 0) {
		pr_warn("agent: epoll_ctl fd %d: %s", w->fd, strerror(-rc));
		return;
	}
	w->events = events;
}

void agent_watch_del(struct agent_watch *w)
{
	if (w->fn && w->fd >= 0 && w->events)
		epoll_op(EPOLL_CTL_DEL, w, 0);
	w->fn = NULL;
	w->events = 0;
}

void agent_watch_close(struct agent_watch *w)
{
	agent_watch_del(w);
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

static void timer_event(struct agent_watch *w, uint32_t events)
{
	struct agent_timer *t = container_of(w, struct agent_timer, w);
	uint64_t n;

	if (read(w->fd, &n, sizeof(n)) != sizeof(n))
		return; /* not expired (EAGAIN) */
	t->fire(t);
}

int agent_timer_open(struct agent_timer *t, void (*fire)(struct agent_timer *t))
{
	int rc, fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	t->w.fd = -1;
	if (fd < 0)
		return -errno;
	t->fire = fire;
	rc = agent_watch_add(&t->w, fd, EPOLLIN, timer_event);
	if (rc < 0)
		close(fd);
	return rc;
}

int agent_timer_arm(struct agent_timer *t, uint64_t ms)
{
	struct itimerspec its = {0};

	if (!ms)
		ms = 1;
	its.it_value.tv_sec = (time_t)(ms / 1000);
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	return timerfd_settime(t->w.fd, 0, &its, NULL) < 0 ? -errno : 0;
}

void agent_timer_close(struct agent_timer *t)
{
	agent_watch_close(&t->w);
}

void agent_bury(struct agent_grave *g, void *obj, void (*fn)(void *obj))
{
	g->obj = obj;
	g->free = fn;
	list_add_tail(&ag.graves, &g->link);
}

static void free_graves(void)
{
	while (!list_empty(&ag.graves)) {
		struct agent_grave *g = container_of(ag.graves.next, struct agent_grave, link);

		list_del(&g->link);
		if (g->free)
			g->free(g->obj);
		else
			free(g->obj);
	}
}

void agent_child_add(struct agent_child *c, pid_t pid, void (*exited)(struct agent_child *, int))
{
	c->pid = pid;
	c->exited = exited;
	list_add_tail(&ag.children, &c->link);
}

void agent_child_forget(struct agent_child *c)
{
	if (c->link.next)
		list_del(&c->link);
}

void agent_child_reset(void)
{
	sigset_t none;

	for (int sig = 1; sig < NSIG; sig++) /* ignored ones would stay ignored across exec */
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (ag.nofile_saved)
		setrlimit(RLIMIT_NOFILE, &ag.nofile);
}

static struct agent_child *child_find(pid_t pid)
{
	for (struct list *l = ag.children.next; l != &ag.children; l = l->next) {
		struct agent_child *c = container_of(l, struct agent_child, link);

		if (c->pid == pid)
			return c;
	}
	return NULL;
}

/* SIGCHLD: reap every child that ended; tell its owner, if it still has one. */
static void sig_event(struct agent_watch *w, uint32_t events)
{
	struct signalfd_siginfo si;
	struct agent_child *c;
	int status;
	pid_t pid;

	while (read(w->fd, &si, sizeof(si)) == sizeof(si))
		;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		c = child_find(pid);
		if (!c)
			continue;
		list_del(&c->link);
		c->exited(c, status);
	}
}

static void lsn_event(struct agent_watch *w, uint32_t events)
{
	int rc = agent_conn_accept(w->fd);

	if (rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM) {
		/* Leave the connection queued; accepting again at once would spin. */
		agent_watch_set(w, 0);
		agent_timer_arm(&ag.lsn_retry, ACCEPT_RETRY_MS);
	}
}

/* The listening socket: vsock port 1024 (tests without a VM: a Unix socket at $TORPOR_AGENT_UNIX).
 */
static int listen_socket(void)
{
	struct sockaddr_vm vm = {
	    .svm_family = AF_VSOCK,
	    .svm_cid = VMADDR_CID_ANY,
	    .svm_port = AGENT_VSOCK_PORT,
	};
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	const char *path = getenv("TORPOR_AGENT_UNIX");
	struct sockaddr *a = (struct sockaddr *)&vm;
	socklen_t alen = sizeof(vm);
	int rc, fd;

	if (path) {
		snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
		unlink(un.sun_path);
		a = (struct sockaddr *)&un;
		alen = sizeof(un);
	}
	fd = socket(a->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, a, alen) < 0 || listen(fd, AGENT_BACKLOG) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static int listen_open(void)
{
	int rc, fd = listen_socket();

	if (fd < 0)
		return fd;
	rc = agent_watch_add(&ag.lsn, fd, EPOLLIN, lsn_event);
	if (rc < 0)
		close(fd);
	return rc;
}

static void lsn_retry(struct agent_timer *t)
{
	int rc;

	if (ag.lsn.fd >= 0) {
		agent_watch_set(&ag.lsn, EPOLLIN);
		return;
	}
	rc = listen_open();
	if (rc < 0) {
		if (!ag.lsn_warned)
			pr_warn("agent: vsock port %u: %s; retrying every %d ms", AGENT_VSOCK_PORT,
				strerror(-rc), LISTEN_RETRY_MS);
		ag.lsn_warned = true;
		agent_timer_arm(t, LISTEN_RETRY_MS);
	} else if (ag.lsn_warned) {
		pr_info("agent: listening on vsock port %u", AGENT_VSOCK_PORT);
	}
}

/* fds 0-2 open (so pipes never land there), SIGPIPE ignored, SIGCHLD not, a high fd limit. */
static void setup_process(void)
{
	struct rlimit rl;

	prctl(PR_SET_NAME, "torpor-agent");
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
			break;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL); /* ignored, children would be reaped unseen */
	if (getrlimit(RLIMIT_NOFILE, &ag.nofile) < 0)
		return;
	ag.nofile_saved = true;
	rl.rlim_cur = rl.rlim_max = AGENT_NOFILE;
	if (rl.rlim_max < ag.nofile.rlim_max)
		rl.rlim_cur = rl.rlim_max = ag.nofile.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		rl.rlim_cur = ag.nofile.rlim_max; /* no CAP_SYS_RESOURCE: the soft limit at least */
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The epoll set with the signalfd and the listener (or its retry timer). */
static int setup_loop(void)
{
	sigset_t set;
	int rc, fd;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_SETMASK, &set, NULL) < 0) /* PID 1 may have blocked more */
		return -errno;
	ag.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ag.epfd < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = agent_watch_add(&ag.sig, fd, EPOLLIN, sig_event);
	if (rc < 0)
		return rc;
	ag.lsn.fd = -1;
	rc = agent_timer_open(&ag.lsn_retry, lsn_retry);
	if (rc < 0)
		return rc;
	lsn_retry(&ag.lsn_retry);
	return 0;
}

noreturn void agent_main(void)
{
	struct epoll_event evs[EVENTS_PER_WAIT];
	bool busy = false;
	int n, rc;

	setup_process();
	rc = setup_loop();
	if (rc < 0) {
		pr_err("agent: event loop: %s", strerror(-rc));
		_exit(1);
	}
	for (;;) {
		n = epoll_wait(ag.epfd, evs, EVENTS_PER_WAIT, busy ? 0 : -1);
		if (n < 0 && errno != EINTR) {
			pr_err("agent: epoll_wait: %s", strerror(errno));
			_exit(1);
		}
		for (int i = 0; i < n; i++) {
			struct agent_watch *w = evs[i].data.ptr;

			if (w->fn)
				w->fn(w, evs[i].events);
		}
		stream_pump();
		agent_conn_run_pokes();
		free_graves();
		busy = stream_pumping();
	}
}
