/*
 * Host-side pseudo-terminal driver (static aarch64, build/aarch64/torpor-test-pty):
 * runs a command on a fresh pty as its controlling terminal, like a user at a
 * terminal would, and plays a script against it: type text, wait for output,
 * resize the window. Used by tests/integration/test_agent_pty.sh to drive
 * `torpor shell`.
 *
 * usage: torpor-test-pty [-t SECONDS] [-s ROWSxCOLS] [-o TRANSCRIPT] STEP... -- CMD [ARG...]
 * STEP is one of
 *   send:TEXT      type TEXT (C escapes: \r \n \t \\ \xHH)
 *   expect:ERE     wait until the output after the previous match matches the
 *                  POSIX extended regular expression ERE
 *   resize:RxC     set the window size (the command gets SIGWINCH)
 *   sleep:MS       wait MS milliseconds (reading output meanwhile)
 *   kill:N         send signal number N to the command
 * After the steps it waits for the command to exit and prints
 *   PTY-EXIT code=N           (N: exit status, or 128+signal)
 *   PTY-TERMIOS restored|changed   whether the terminal's modes are back to
 *                             what they were before the command ran
 * A step that fails prints "PTY-FAIL <step>: <why>" and the output so far,
 * kills the command and exits 1. -t bounds each step and the final wait
 * (default 30 s). -o writes everything the command printed to TRANSCRIPT.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static char *out;      /* everything the command printed */
static size_t out_len, out_cap, out_pos; /* out_pos: after the last match */
static int master = -1;
static pid_t child;
static int step_ms = 30000;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void show_output(void)
{
	fputs("--- output (escaped) ---\n", stdout);
	for (size_t i = 0; i < out_len; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c == '\n' || (c >= 0x20 && c < 0x7f))
			putchar(c);
		else
			printf("\\x%02x", c);
	}
	fputs("\n---\n", stdout);
}

static void die(const char *step, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));

static void die(const char *step, const char *fmt, ...)
{
	va_list ap;

	printf("PTY-FAIL %s: ", step);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	show_output();
	if (child > 0)
		kill(child, SIGKILL);
	exit(1);
}

/* Read what the command printed, for at most ms. Returns 0, or -1 at EOF/EIO. */
static int pump(int ms)
{
	struct pollfd p = { .fd = master, .events = POLLIN };
	char buf[4096];
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return 0;
	n = read(master, buf, sizeof(buf));
	if (n <= 0)
		return n < 0 && errno == EINTR ? 0 : -1;
	if (out_len + (size_t)n + 1 > out_cap) {
		out_cap = (out_len + (size_t)n + 1) * 2;
		out = realloc(out, out_cap);
		if (!out)
			die("read", "out of memory");
	}
	memcpy(out + out_len, buf, (size_t)n);
	out_len += (size_t)n;
	out[out_len] = '\0';
	return 0;
}

static size_t unescape(const char *s, char *d)
{
	size_t n = 0;

	while (*s) {
		if (*s != '\\' || !s[1]) {
			d[n++] = *s++;
			continue;
		}
		s++;
		switch (*s) {
		case 'r': d[n++] = '\r'; s++; break;
		case 'n': d[n++] = '\n'; s++; break;
		case 't': d[n++] = '\t'; s++; break;
		case 'x': {
			char hex[3] = { s[1], s[1] ? s[2] : 0, 0 };

			d[n++] = (char)strtol(hex, NULL, 16);
			s += 1 + strlen(hex);
			break;
		}
		default: d[n++] = *s++; break;
		}
	}
	return n;
}

static void step_send(const char *step, const char *text)
{
	char *buf = malloc(strlen(text) + 1);
	size_t n = unescape(text, buf), off = 0;

	while (off < n) {
		ssize_t w = write(master, buf + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die(step, "write: %s", strerror(errno));
		off += (size_t)w;
		pump(0);
	}
	free(buf);
}

static void step_expect(const char *step, const char *ere)
{
	long long end = now_ms() + step_ms;
	regmatch_t m;
	regex_t re;
	int rc = regcomp(&re, ere, REG_EXTENDED);

	if (rc)
		die(step, "bad regular expression");
	for (;;) {
		if (out_len > out_pos && !regexec(&re, out + out_pos, 1, &m, 0)) {
			out_pos += (size_t)m.rm_eo;
			regfree(&re);
			return;
		}
		if (now_ms() >= end)
			die(step, "no match within %d ms", step_ms);
		if (pump(100) < 0)
			die(step, "the command closed the terminal");
	}
}

static void parse_size(const char *step, const char *s, struct winsize *ws)
{
	unsigned r, c;

	if (sscanf(s, "%ux%u", &r, &c) != 2 || !r || !c || r > 65535 || c > 65535)
		die(step, "expected ROWSxCOLS");
	memset(ws, 0, sizeof(*ws));
	ws->ws_row = (unsigned short)r;
	ws->ws_col = (unsigned short)c;
}

static void run_step(const char *step)
{
	struct winsize ws;

	if (!strncmp(step, "send:", 5)) {
		step_send(step, step + 5);
	} else if (!strncmp(step, "expect:", 7)) {
		step_expect(step, step + 7);
	} else if (!strncmp(step, "resize:", 7)) {
		parse_size(step, step + 7, &ws);
		if (ioctl(master, TIOCSWINSZ, &ws) < 0)
			die(step, "TIOCSWINSZ: %s", strerror(errno));
	} else if (!strncmp(step, "kill:", 5)) {
		if (kill(child, atoi(step + 5)) < 0)
			die(step, "kill: %s", strerror(errno));
	} else if (!strncmp(step, "sleep:", 6)) {
		long long end = now_ms() + atoi(step + 6);

		while (now_ms() < end)
			pump((int)(end - now_ms()));
	} else {
		die(step, "unknown step");
	}
}

static bool same_modes(const struct termios *a, const struct termios *b)
{
	return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag &&
	       a->c_cflag == b->c_cflag && a->c_lflag == b->c_lflag;
}

int main(int argc, char **argv)
{
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	const char *transcript = NULL;
	struct termios before, after;
	int i, slave, status = 0, code;
	long long end;
	bool exited = false;

	for (i = 1; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "-t") && i + 1 < argc)
			step_ms = atoi(argv[++i]) * 1000;
		else if (!strcmp(argv[i], "-s") && i + 1 < argc)
			parse_size("-s", argv[++i], &ws);
		else if (!strcmp(argv[i], "-o") && i + 1 < argc)
			transcript = argv[++i];
		else
			break;
	}
	int first_step = i;

	while (i < argc && strcmp(argv[i], "--"))
		i++;
	if (i + 1 >= argc) {
		fprintf(stderr, "usage: torpor-test-pty [-t SECONDS] [-s ROWSxCOLS] [-o FILE] "
				"STEP... -- CMD [ARG...]\n");
		return 2;
	}
	master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		die("setup", "posix_openpt: %s", strerror(errno));
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	if (slave < 0)
		die("setup", "open %s: %s", ptsname(master), strerror(errno));
	ioctl(master, TIOCSWINSZ, &ws);
	tcgetattr(slave, &before);
	child = fork();
	if (child < 0)
		die("setup", "fork: %s", strerror(errno));
	if (!child) {
		setsid();
		ioctl(slave, TIOCSCTTY, 0);
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
		if (slave > 2)
			close(slave);
		execvp(argv[i + 1], argv + i + 1);
		fprintf(stderr, "exec %s: %s\n", argv[i + 1], strerror(errno));
		_exit(127);
	}
	/* Keep our slave fd: the terminal's modes can be checked after the command. */
	for (int s = first_step; s < i; s++)
		run_step(argv[s]);
	end = now_ms() + step_ms;
	while (now_ms() < end) {
		if (waitpid(child, &status, WNOHANG) == child) {
			exited = true;
			break;
		}
		pump(50);
	}
	if (!exited)
		die("exit", "the command did not exit within %d ms", step_ms);
	while (pump(50) == 0 && out_len && now_ms() < end + 1000) {
		struct pollfd p = { .fd = master, .events = POLLIN };

		if (poll(&p, 1, 0) <= 0)
			break;
	}
	child = 0;
	code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	tcgetattr(slave, &after);
	if (transcript) {
		FILE *f = fopen(transcript, "w");

		if (f) {
			fwrite(out, 1, out_len, f);
			fclose(f);
		}
	}
	printf("PTY-EXIT code=%d\n", code);
	printf("PTY-TERMIOS %s\n", same_modes(&before, &after) ? "restored" : "changed");
	return 0;
}
