/* torpor ping, ready, stat, ls and rm: one request each to the guest agent. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent_client.h"
#include "cli.h"

#define REQUEST_TIMEOUT_MS 30000

struct simple {
	const char *name;
	const char *synopsis;
	const char *help; /* the rest of the usage text */
	bool has_path;
	bool has_recursive; /* -r */
	bool has_port;      /* --port */
	bool has_timeout;   /* --timeout */
};

struct simple_args {
	const char *sock, *path;
	bool recursive;
	unsigned long port;
	long long timeout_ms;
};

static void simple_usage(FILE *f, const struct simple *c)
{
	fprintf(f, "Usage: torpor %s %s\n\n%s", c->name, c->synopsis, c->help);
}

/* Parse "VSOCK [PATH]" and the command's options. Returns 0, -1 (help printed), or an exit code. */
static int simple_parse(const struct simple *c, int argc, char **argv, struct simple_args *a)
{
	char hint[32];

	snprintf(hint, sizeof(hint), "torpor %s", c->name);
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (cli_is_help(s)) {
			simple_usage(stdout, c);
			return -1;
		}
		if (c->has_recursive && (!strcmp(s, "-r") || !strcmp(s, "--recursive"))) {
			a->recursive = true;
		} else if (c->has_port && !strcmp(s, "--port")) {
			if (i + 1 >= argc || cli_parse_ulong(argv[i + 1], 1, 65535, &a->port) < 0)
				return cli_usage_error(hint, "--port needs a port number (1..65535)");
			i++;
		} else if (c->has_timeout && !strcmp(s, "--timeout")) {
			if (i + 1 >= argc || cli_parse_seconds(argv[i + 1], &a->timeout_ms) < 0 ||
			    a->timeout_ms > 3600000)
				return cli_usage_error(hint, "--timeout needs seconds (at most 3600)");
			i++;
		} else if (s[0] == '-' && s[1]) {
			return cli_usage_error(hint, "%s: unknown option \"%s\"", c->name, s);
		} else if (!a->sock) {
			a->sock = s;
		} else if (c->has_path && !a->path) {
			a->path = s;
		} else {
			return cli_usage_error(hint, "%s: unexpected argument \"%s\"", c->name, s);
		}
	}
	if (!a->sock)
		return cli_usage_error(hint, "%s: missing VSOCK", c->name);
	if (c->has_path && !a->path)
		return cli_usage_error(hint, "%s: missing PATH", c->name);
	if (c->has_path && a->path[0] != '/')
		return cli_usage_error(hint, "%s: \"%s\": the guest path must be absolute", c->name,
				       a->path);
	return 0;
}

/* Parse, connect; *conn is set on success (return 0). */
static int simple_begin(const struct simple *c, int argc, char **argv, struct simple_args *a,
			struct agent_conn **conn)
{
	char err[512];
	int rc = simple_parse(c, argc, argv, a);

	if (rc)
		return rc < 0 ? -1 : rc;
	rc = agent_connect(a->sock, 0, conn, err, sizeof(err));
	return rc < 0 ? cli_fail("%s", err) : 0;
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const struct simple ping_cmd = {
	"ping", "VSOCK [--timeout SEC]",
	"Ask the guest agent for its uptime and version. Prints one line:\n"
	"  uptime <seconds> s, guest-init <version>, protocol <n>, round trip <ms> ms\n"
	"\n"
	"Options:\n"
	"  --timeout SEC   wait at most SEC seconds for the answer (default 30)\n"
	"\n"
	"Exit status: 0 the agent answered; 1 it did not (or cannot be reached); 2 usage error.\n",
	.has_timeout = true,
};

int cmd_ping(int argc, char **argv)
{
	struct simple_args a = { .timeout_ms = REQUEST_TIMEOUT_MS };
	struct agent_conn *c;
	struct agent_ping p;
	char err[512];
	long long t0;
	int rc = simple_begin(&ping_cmd, argc, argv, &a, &c);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	t0 = now_us();
	rc = agent_ping(c, (int)a.timeout_ms, &p, err, sizeof(err));
	t0 = now_us() - t0;
	agent_conn_close(c);
	if (rc < 0)
		return cli_fail("%s", err);
	printf("uptime %llu.%03llu s, guest-init %s, protocol %d, round trip %lld.%03lld ms\n",
	       (unsigned long long)(p.uptime_ms / 1000), (unsigned long long)(p.uptime_ms % 1000),
	       p.version, p.proto, t0 / 1000, t0 % 1000);
	return CLI_EXIT_OK;
}

static const struct simple ready_cmd = {
	"ready", "VSOCK [--port PORT] [--timeout SEC]",
	"Wait until something in the guest accepts TCP connections on 127.0.0.1:PORT\n"
	"(default: the app's port from the guest's /etc/torpor/app.json). Prints\n"
	"\"ready\" then.\n"
	"\n"
	"Options:\n"
	"  --port PORT     the port to wait for\n"
	"  --timeout SEC   how long the agent waits (default 10, at most 3600)\n"
	"\n"
	"Exit status: 0 ready; 1 not ready in time, or the agent cannot be reached; 2 usage error.\n",
	.has_port = true, .has_timeout = true,
};

int cmd_ready(int argc, char **argv)
{
	struct simple_args a = { 0 };
	struct agent_conn *c;
	char err[512];
	int rc = simple_begin(&ready_cmd, argc, argv, &a, &c);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	rc = agent_ready(c, (unsigned)a.port, (unsigned)a.timeout_ms, err, sizeof(err));
	agent_conn_close(c);
	if (rc == -ETIMEDOUT && a.port)
		return cli_fail("not ready: nothing accepted connections on port %lu in time",
				a.port);
	if (rc == -ETIMEDOUT)
		return cli_fail("not ready: nothing accepted connections on the app's port in time");
	if (rc < 0)
		return cli_fail("%s", err);
	printf("ready\n");
	return CLI_EXIT_OK;
}

static const struct simple stat_cmd = {
	"stat", "VSOCK PATH",
	"Print a guest file's type, mode, size, owner and modification time, one\n"
	"\"key value\" line each (type, mode in octal, size, uid, gid, mtime_ns).\n"
	"\n"
	"Exit status: 0 success; 1 failed (no such file, agent unreachable); 2 usage error.\n",
	.has_path = true,
};

int cmd_stat(int argc, char **argv)
{
	struct simple_args a = { 0 };
	struct agent_conn *c;
	struct agent_stat st;
	char err[512];
	int rc = simple_begin(&stat_cmd, argc, argv, &a, &c);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	rc = agent_stat(c, a.path, REQUEST_TIMEOUT_MS, &st, err, sizeof(err));
	agent_conn_close(c);
	if (rc < 0)
		return cli_fail("%s", err);
	printf("type %s\nmode %04o\nsize %llu\nuid %u\ngid %u\nmtime_ns %lld\n", st.type,
	       st.mode & 07777, (unsigned long long)st.size, st.uid, st.gid,
	       (long long)st.mtime_ns);
	return CLI_EXIT_OK;
}

static const struct simple ls_cmd = {
	"ls", "VSOCK PATH",
	"List a guest directory: one line per entry, \"TYPE MODE SIZE NAME\" (type\n"
	"file, dir, link or other; mode in octal), sorted by name. At most 10000\n"
	"entries; a note on stderr says when there were more.\n"
	"\n"
	"Exit status: 0 success; 1 failed; 2 usage error.\n",
	.has_path = true,
};

static int by_name(const void *x, const void *y)
{
	const char *a = json_string_value(json_object_get(*(json_t *const *)x, "name"));
	const char *b = json_string_value(json_object_get(*(json_t *const *)y, "name"));

	return strcmp(a ? a : "", b ? b : "");
}

int cmd_ls(int argc, char **argv)
{
	struct simple_args a = { 0 };
	struct agent_conn *c;
	json_t *entries, **v;
	bool truncated;
	char err[512];
	size_t n;
	int rc = simple_begin(&ls_cmd, argc, argv, &a, &c);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	rc = agent_list(c, a.path, REQUEST_TIMEOUT_MS, &entries, &truncated, err, sizeof(err));
	agent_conn_close(c);
	if (rc < 0)
		return cli_fail("%s", err);
	n = json_array_size(entries);
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		json_decref(entries);
		return cli_fail("out of memory");
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(entries, i);
	qsort(v, n, sizeof(*v), by_name);
	for (size_t i = 0; i < n; i++) {
		const char *name = json_string_value(json_object_get(v[i], "name"));
		const char *type = json_string_value(json_object_get(v[i], "type"));

		printf("%-5s %04llo %12lld %s\n", type ? type : "?",
		       (unsigned long long)json_integer_value(json_object_get(v[i], "mode")) & 07777,
		       (long long)json_integer_value(json_object_get(v[i], "size")),
		       name ? name : "?");
	}
	if (truncated)
		fprintf(stderr, "torpor: note: %s has more entries than the agent lists (%zu shown)\n",
			a.path, n);
	free(v);
	json_decref(entries);
	return CLI_EXIT_OK;
}

static const struct simple rm_cmd = {
	"rm", "[-r] VSOCK PATH",
	"Remove a guest file, link or empty directory; with -r, a directory and\n"
	"everything in it.\n"
	"\n"
	"Options:\n"
	"  -r, --recursive   remove a whole tree\n"
	"\n"
	"Exit status: 0 removed; 1 failed; 2 usage error.\n",
	.has_path = true, .has_recursive = true,
};

int cmd_rm(int argc, char **argv)
{
	struct simple_args a = { 0 };
	struct agent_conn *c;
	char err[512];
	int rc = simple_begin(&rm_cmd, argc, argv, &a, &c);

	if (rc)
		return rc < 0 ? CLI_EXIT_OK : rc;
	rc = agent_remove(c, a.path, a.recursive, REQUEST_TIMEOUT_MS, err, sizeof(err));
	agent_conn_close(c);
	return rc < 0 ? cli_fail("%s", err) : CLI_EXIT_OK;
}
