/* torpor exec, shell and relay: one agent stream tied to this process's stdio and signals. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "agent_client.h"
#include "cli.h"

#define MAX_ENV        256
#define TIMEOUT_GRACE_MS 15000 /* wait this long past --timeout for the agent's exit reply */

enum sess_kind { SESS_EXEC, SESS_SHELL, SESS_RELAY };

/* The terminal put in raw mode, for restoring it on every way out. */
struct term {
	int fd; /* -1: not raw */
	struct termios saved;
};

static struct term *term_active; /* for the atexit() safety net only */

static void term_restore(struct term *t)
{
	if (t->fd >= 0)
		tcsetattr(t->fd, TCSADRAIN, &t->saved);
}

static void term_restore_atexit(void)
{
	if (term_active)
		term_restore(term_active);
}

static int term_raw(struct term *t, int fd)
{
	struct termios raw;

	if (tcgetattr(fd, &t->saved) < 0)
		return -errno;
	raw = t->saved;
	cfmakeraw(&raw);
	if (tcsetattr(fd, TCSADRAIN, &raw) < 0)
		return -errno;
	t->fd = fd;
	if (!term_active) {
		term_active = t;
		atexit(term_restore_atexit);
	}
	return 0;
}

struct sess {
	enum sess_kind kind;
	const char *sock;
	struct agent_exec_opts o;
	unsigned port;     /* relay */
	const char *host;  /* relay */
	long long timeout_ms;
	bool stdin_on;
	int size_fd; /* the terminal whose size the pty follows, or -1 */
	struct term term;
	/* filled by on_end */
	bool done;
	struct agent_end end;
	char error[512];
};

static void sess_end(struct agent_stream *s, const struct agent_end *e, void *arg)
{
	struct sess *x = arg;

	x->done = true;
	x->end = *e;
	x->end.msg = NULL;
	x->end.error = NULL;
	if (e->error)
		snprintf(x->error, sizeof(x->error), "%s", e->error);
}

static const struct agent_stream_ops sess_ops = {
	.on_end = sess_end,
};

static void winsize(int fd, unsigned *rows, unsigned *cols)
{
	struct winsize ws;

	*rows = *cols = 0;
	if (fd >= 0 && !ioctl(fd, TIOCGWINSZ, &ws) && ws.ws_row && ws.ws_col) {
		*rows = ws.ws_row;
		*cols = ws.ws_col;
	}
}

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static int signals_open(bool raw)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&set, forwarded[i]);
	sigaddset(&set, SIGWINCH);
	if (raw)
		sigaddset(&set, SIGTSTP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Stopped by SIGTSTP in raw mode: give the terminal back, stop, take it again. */
static void suspend_self(struct sess *x, struct agent_stream *s)
{
	int fd = x->term.fd;
	unsigned rows, cols;

	term_restore(&x->term);
	kill(getpid(), SIGSTOP);
	if (fd >= 0)
		term_raw(&x->term, fd);
	winsize(x->size_fd, &rows, &cols);
	if (rows && s)
		agent_stream_resize(s, rows, cols);
}

/*
 * A signal for us. Returns 0 to go on, or an exit code when the session is
 * over on our side (the stream has been dealt with).
 */
static int on_signal(struct sess *x, struct agent_stream *s, int sig)
{
	unsigned rows, cols;

	if (sig == SIGWINCH) {
		winsize(x->size_fd, &rows, &cols);
		if (rows && x->kind != SESS_RELAY && !x->done)
			agent_stream_resize(s, rows, cols);
		return 0;
	}
	if (sig == SIGTSTP) {
		suspend_self(x, x->done ? NULL : s);
		return 0;
	}
	if (x->done)
		return 0;
	switch (x->kind) {
	case SESS_EXEC:
		/* The remote process decides: it may exit, and its status follows. */
		agent_stream_signal(s, sig);
		return 0;
	case SESS_SHELL:
		/* Our terminal is going away: hang the session up. */
		agent_stream_signal(s, SIGHUP);
		agent_stream_detach(s);
		return 128 + sig;
	case SESS_RELAY:
		agent_stream_detach(s);
		return 128 + sig;
	}
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll the connection, the bridges and the signals until the stream ends. */
static int sess_loop(struct sess *x, struct agent_conn *c, struct agent_stream *s, int sigfd)
{
	/* exec: the agent enforces --timeout, we only guard against its silence; pty: we do. */
	long long grace = x->o.pty ? 0 : TIMEOUT_GRACE_MS;
	long long deadline = x->timeout_ms ? now_ms() + x->timeout_ms + grace : 0;

	while (!x->done) {
		size_t max = agent_conn_npollfds(c) + 1, n;
		struct pollfd *p = calloc(max, sizeof(*p));
		int left = -1, rc;

		if (!p) {
			cli_error("out of memory");
			return CLI_EXIT_EXEC_FAIL;
		}
		n = agent_conn_pollfds(c, p, max - 1);
		p[n] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
		if (deadline) {
			long long l = deadline - now_ms();

			left = l > 0 ? (int)l : 0;
		}
		rc = poll(p, n + 1, left);
		if (rc < 0 && errno != EINTR) {
			cli_error("poll: %s", strerror(errno));
			free(p);
			return CLI_EXIT_EXEC_FAIL;
		}
		if (rc > 0)
			agent_conn_dispatch(c, p, n);
		else
			agent_conn_dispatch(c, p, 0);
		if (rc > 0 && p[n].revents) {
			struct signalfd_siginfo si;

			while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				int code = on_signal(x, s, (int)si.ssi_signo);

				if (code) {
					free(p);
					return code;
				}
			}
		}
		free(p);
		if (!x->done && deadline && now_ms() >= deadline) {
			agent_stream_detach(s);
			if (grace)
				cli_error("no exit status from the agent %lld s after the timeout",
					  grace / 1000);
			return 124;
		}
	}
	return 0;
}

static int sess_run(struct sess *x)
{
	struct agent_conn *c;
	struct agent_stream *s;
	json_t *req;
	char err[512];
	int sigfd, rc, code;
	bool raw = x->kind == SESS_SHELL || (x->kind == SESS_EXEC && x->o.pty);
	int fail = x->kind == SESS_RELAY ? CLI_EXIT_FAIL : CLI_EXIT_EXEC_FAIL;

	x->term.fd = -1;
	raw = raw && x->stdin_on && isatty(STDIN_FILENO);
	x->size_fd = isatty(STDIN_FILENO) ? STDIN_FILENO : isatty(STDOUT_FILENO) ? STDOUT_FILENO : -1;
	sigfd = signals_open(raw);
	if (sigfd < 0) {
		cli_error("signalfd: %s", strerror(-sigfd));
		return fail;
	}
	rc = agent_connect(x->sock, 0, &c, err, sizeof(err));
	if (rc < 0) {
		cli_error("%s", err);
		return fail;
	}
	if (x->kind == SESS_RELAY) {
		req = json_pack("{s:s,s:I}", "op", "relay", "port", (json_int_t)x->port);
		if (req && x->host)
			json_object_set_new(req, "host", json_string(x->host));
	} else {
		if (x->o.pty) {
			winsize(x->size_fd, &x->o.rows, &x->o.cols);
			x->o.term = getenv("TERM");
		}
		req = agent_exec_request(&x->o);
	}
	s = req ? agent_stream_open(c, req, &sess_ops, x) : NULL;
	json_decref(req);
	if (!s) {
		cli_error("%s", agent_conn_status(c) ? agent_conn_error(c) : strerror(errno));
		agent_conn_close(c);
		return fail;
	}
	if (!x->done) {
		rc = agent_stream_bridge(s, x->stdin_on ? STDIN_FILENO : -1, STDOUT_FILENO,
					 x->o.pty || x->kind == SESS_RELAY ? -1 : STDERR_FILENO,
					 AGENT_BRIDGE_SIGPIPE);
		if (rc < 0) {
			cli_error("%s", strerror(-rc));
			agent_conn_close(c);
			return fail;
		}
	}
	if (raw && term_raw(&x->term, STDIN_FILENO) < 0)
		x->term.fd = -1;
	code = sess_loop(x, c, s, sigfd);
	term_restore(&x->term);
	x->term.fd = -1;
	term_active = NULL; /* x->term goes away with this frame */
	agent_conn_close(c);
	close(sigfd);
	if (code)
		return code;
	if (x->kind == SESS_RELAY) {
		if (x->end.kind == AGENT_END_RESULT)
			return CLI_EXIT_OK;
		cli_error("relay to port %u: %s", x->port, x->error);
		return CLI_EXIT_FAIL;
	}
	if (x->end.kind == AGENT_END_ERROR)
		cli_error("%s", x->error);
	return agent_end_exit_code(&x->end);
}

/* --- Command lines -------------------------------------------------------- */

static void exec_usage(FILE *f, bool shell)
{
	if (shell)
		fprintf(f, "Usage: torpor shell VSOCK [options] [-- CMD [ARG...]]\n"
			   "\n"
			   "An interactive terminal session in the guest: a pty running CMD (default:\n"
			   "the guest's /bin/sh) with this terminal in raw mode, its size followed on\n"
			   "SIGWINCH, TERM taken from the environment. The terminal is restored on\n"
			   "every way out.\n");
	else
		fprintf(f, "Usage: torpor exec VSOCK [options] [--] CMD [ARG...]\n"
			   "\n"
			   "Run CMD in the guest. Its stdin comes from ours (until EOF), its stdout and\n"
			   "stderr go to ours, and torpor exits with its exit status. SIGINT, SIGTERM,\n"
			   "SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to torpor are passed on to it.\n");
	fprintf(f, "\n"
		   "VSOCK is the microVM's vsock socket (torpor-vmm --vsock cid=N,uds=VSOCK).\n"
		   "\n"
		   "Options:\n"
		   "  -e, --env K=V        set a variable (repeatable)\n"
		   "  -w, --cwd DIR        working directory in the guest\n"
		   "  -u, --user UID[:GID] numeric user (and group) to run as\n");
	if (!shell)
		fprintf(f, "  --timeout SEC        kill CMD after SEC seconds (exit status 124)\n"
			   "  -n, --no-stdin       CMD's stdin is /dev/null\n"
			   "  -t, --tty            run CMD on a pseudo-terminal (as shell does)\n");
	fprintf(f, "  -h, --help           print this help and exit\n"
		   "\n"
		   "Exit status: CMD's exit status; 128+N if a signal N killed it; 124 on\n"
		   "--timeout; 125 torpor failed (cannot reach the agent, bad options, the\n"
		   "connection broke); 126 CMD cannot be run; 127 CMD not found.\n");
}

/* Parse exec/shell arguments into x. Returns 0, or an exit code to return. */
static int exec_parse(int argc, char **argv, bool shell, struct sess *x, const char **env)
{
	const char *hint = shell ? "torpor shell" : "torpor exec";
	size_t nenv = 0;
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (cli_is_help(argv[i])) {
			exec_usage(stdout, shell);
			return -1;
		}
	}
	x->o.uid = x->o.gid = -1;
	x->stdin_on = true;
	x->o.pty = shell;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = !strcmp(a, "-e") || !strcmp(a, "--env") || !strcmp(a, "-w") ||
			     !strcmp(a, "--cwd") || !strcmp(a, "-u") || !strcmp(a, "--user") ||
			     (!shell && !strcmp(a, "--timeout"));

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (a[0] != '-' || !a[1]) {
			if (!x->sock) {
				x->sock = a;
				continue;
			}
			if (shell) {
				cli_usage_error(hint, "shell: unexpected argument \"%s\" (the "
						"command goes after --)", a);
				return CLI_EXIT_EXEC_FAIL;
			}
			break; /* the command starts here */
		}
		if (takes && !v) {
			cli_usage_error(hint, "%s needs a value", a);
			return CLI_EXIT_EXEC_FAIL;
		}
		if (!strcmp(a, "-e") || !strcmp(a, "--env")) {
			if (!strchr(v, '=') || v[0] == '=') {
				cli_usage_error(hint, "%s \"%s\": expected K=V", a, v);
				return CLI_EXIT_EXEC_FAIL;
			}
			if (nenv >= MAX_ENV) {
				cli_usage_error(hint, "more than %d --env", MAX_ENV);
				return CLI_EXIT_EXEC_FAIL;
			}
			env[nenv++] = v;
			i++;
		} else if (!strcmp(a, "-w") || !strcmp(a, "--cwd")) {
			if (v[0] != '/') {
				cli_usage_error(hint, "%s \"%s\": the guest directory must be absolute",
						a, v);
				return CLI_EXIT_EXEC_FAIL;
			}
			x->o.cwd = v;
			i++;
		} else if (!strcmp(a, "-u") || !strcmp(a, "--user")) {
			unsigned long uid, gid;
			char buf[32], *colon;

			snprintf(buf, sizeof(buf), "%s", v);
			colon = strchr(buf, ':');
			if (colon)
				*colon = '\0';
			if (strlen(v) >= sizeof(buf) || cli_parse_ulong(buf, 0, 0xfffffffe, &uid) ||
			    (colon && cli_parse_ulong(colon + 1, 0, 0xfffffffe, &gid))) {
				cli_usage_error(hint, "%s \"%s\": expected UID or UID:GID (numbers)",
						a, v);
				return CLI_EXIT_EXEC_FAIL;
			}
			x->o.uid = (long)uid;
			if (colon)
				x->o.gid = (long)gid;
			i++;
		} else if (!shell && !strcmp(a, "--timeout")) {
			if (cli_parse_seconds(v, &x->timeout_ms) < 0) {
				cli_usage_error(hint, "--timeout \"%s\": expected seconds, more than 0",
						v);
				return CLI_EXIT_EXEC_FAIL;
			}
			x->o.timeout_ms = (uint32_t)(x->timeout_ms > 0xffffffffLL ? 0xffffffffLL
										   : x->timeout_ms);
			i++;
		} else if (!shell && (!strcmp(a, "-n") || !strcmp(a, "--no-stdin"))) {
			x->stdin_on = false;
		} else if (!shell && (!strcmp(a, "-t") || !strcmp(a, "--tty"))) {
			x->o.pty = true;
		} else {
			cli_usage_error(hint, "%s: unknown option \"%s\"", shell ? "shell" : "exec",
					a);
			return CLI_EXIT_EXEC_FAIL;
		}
	}
	if (!x->sock) {
		cli_usage_error(hint, "%s: missing VSOCK", shell ? "shell" : "exec");
		return CLI_EXIT_EXEC_FAIL;
	}
	if (!shell && i >= argc) {
		cli_usage_error(hint, "exec: missing the command");
		return CLI_EXIT_EXEC_FAIL;
	}
	env[nenv] = NULL;
	x->o.env = env;
	x->o.argv = i < argc ? (const char *const *)argv + i : NULL;
	x->o.no_stdin = !x->stdin_on;
	if (x->o.pty && x->o.timeout_ms) {
		/* The agent's pty op has no timeout of its own: enforce it here. */
		x->o.timeout_ms = 0;
	}
	return 0;
}

static int exec_main(int argc, char **argv, bool shell)
{
	const char *env[MAX_ENV + 1];
	struct sess x = { .kind = shell ? SESS_SHELL : SESS_EXEC };
	int rc = exec_parse(argc, argv, shell, &x, env);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	return sess_run(&x);
}

int cmd_exec(int argc, char **argv)
{
	return exec_main(argc, argv, false);
}

int cmd_shell(int argc, char **argv)
{
	return exec_main(argc, argv, true);
}

static void relay_usage(FILE *f)
{
	fprintf(f, "Usage: torpor relay VSOCK PORT [--host ADDR]\n"
		   "\n"
		   "Connect to TCP PORT inside the guest (on 127.0.0.1, or ADDR: an IPv4 or IPv6\n"
		   "address as the guest sees it) and pass bytes both ways: stdin to the\n"
		   "connection, the connection to stdout, like nc. EOF on stdin half-closes the\n"
		   "connection; torpor exits once both directions are closed.\n"
		   "\n"
		   "Exit status: 0 both directions closed cleanly; 1 the connection could not\n"
		   "be made or broke; 2 usage error; 128+N when signal N ended it.\n");
}

int cmd_relay(int argc, char **argv)
{
	struct sess x = { .kind = SESS_RELAY, .stdin_on = true };
	const char *port = NULL;
	unsigned long p;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			relay_usage(stdout);
			return CLI_EXIT_OK;
		}
		if (!strcmp(argv[i], "--host")) {
			if (i + 1 >= argc)
				return cli_usage_error("torpor relay", "--host needs an address");
			x.host = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			return cli_usage_error("torpor relay", "relay: unknown option \"%s\"",
					       argv[i]);
		} else if (!x.sock) {
			x.sock = argv[i];
		} else if (!port) {
			port = argv[i];
		} else {
			return cli_usage_error("torpor relay", "relay: unexpected argument \"%s\"",
					       argv[i]);
		}
	}
	if (!x.sock || !port)
		return cli_usage_error("torpor relay", "relay: missing %s", x.sock ? "PORT" : "VSOCK");
	if (cli_parse_ulong(port, 1, 65535, &p) < 0)
		return cli_usage_error("torpor relay", "relay: bad PORT \"%s\" (1..65535)", port);
	x.port = (unsigned)p;
	return sess_run(&x);
}
