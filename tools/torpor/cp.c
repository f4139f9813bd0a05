/* torpor cp: copy one file between the host and a guest through the agent. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_client.h"
#include "cli.h"
#include "cp_spec.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: torpor cp [options] SRC DST\n"
		   "\n"
		   "Copy one file between this host and a guest. Exactly one of SRC and DST is\n"
		   "in the guest, written guest:VSOCK:/absolute/path, where VSOCK is the\n"
		   "microVM's vsock socket (it must not contain \":/\"):\n"
		   "\n"
		   "  torpor cp ./app.conf guest:/run/vm1.vsock:/etc/app.conf     # upload\n"
		   "  torpor cp guest:/run/vm1.vsock:/var/log/app.log .           # download\n"
		   "\n"
		   "The other side is a host path, or - for stdin (upload) / stdout (download).\n"
		   "A DST that is a directory (or a guest path ending in /) gets SRC's file name.\n"
		   "The mode bits are kept: an upload gets the host file's mode (0644 from stdin),\n"
		   "a download the guest file's. Both sides write a temporary file and rename it,\n"
		   "so DST is never seen half-written.\n"
		   "\n"
		   "Options:\n"
		   "  --mode MODE      give DST this mode instead (octal, e.g. 0755)\n"
		   "  --timeout SEC    give up after SEC seconds (default: no limit)\n"
		   "  -h, --help       print this help and exit\n"
		   "\n"
		   "Exit status: 0 copied; 1 failed (nothing is left at DST); 2 usage error.\n");
}

struct cp_opts {
	struct cp_spec spec;
	long mode; /* -1: keep */
	int timeout_ms;
};

/* The guest path for an upload: a directory target gets the host file's name. */
static int upload_target(struct agent_conn *c, const struct cp_opts *o, char *path,
			 size_t len)
{
	const char *g = o->spec.guest_path;
	char tmp[4096], err[512];
	struct agent_stat st;
	const char *base;
	bool dir = g[strlen(g) - 1] == '/';

	if (!dir) {
		int rc = agent_stat(c, g, 30000, &st, err, sizeof(err));

		dir = !rc && !strcmp(st.type, "dir");
		if (rc < 0 && rc != -ENOENT)
			return cli_fail("%s", err);
	}
	if (!dir) {
		snprintf(path, len, "%s", g);
		return 0;
	}
	if (!strcmp(o->spec.local, "-"))
		return cli_fail("%s is a directory: give the file's name when copying from stdin",
				g);
	snprintf(tmp, sizeof(tmp), "%s", o->spec.local);
	base = basename(tmp);
	if ((size_t)snprintf(path, len, "%s%s%s", g, g[strlen(g) - 1] == '/' ? "" : "/", base) >=
	    len)
		return cli_fail("%s: path too long", g);
	return 0;
}

static int upload(struct agent_conn *c, const struct cp_opts *o)
{
	const char *local = o->spec.local;
	char path[4096], err[512];
	unsigned mode = 0644;
	struct stat st;
	int fd = STDIN_FILENO, rc;

	if (strcmp(local, "-")) {
		fd = open(local, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return cli_fail("%s: %s", local, strerror(errno));
		if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
			rc = S_ISDIR(st.st_mode) ? EISDIR : errno;
			close(fd);
			return cli_fail("%s: %s", local, strerror(rc));
		}
		mode = st.st_mode & 07777;
	}
	if (o->mode >= 0)
		mode = (unsigned)o->mode;
	rc = upload_target(c, o, path, sizeof(path));
	if (!rc) {
		rc = agent_file_write(c, path, fd, mode, -1, -1, o->timeout_ms, NULL, err,
				      sizeof(err));
		rc = rc < 0 ? cli_fail("%s", err) : CLI_EXIT_OK;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

/* The host path for a download: a directory target gets the guest file's name. */
static int download_target(const struct cp_opts *o, char *path, size_t len)
{
	const char *l = o->spec.local;
	char tmp[4096];
	struct stat st;

	if (stat(l, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(path, len, "%s", l);
		return 0;
	}
	snprintf(tmp, sizeof(tmp), "%s", o->spec.guest_path);
	if ((size_t)snprintf(path, len, "%s/%s", l, basename(tmp)) >= len)
		return cli_fail("%s: path too long", l);
	return 0;
}

static int download(struct agent_conn *c, const struct cp_opts *o)
{
	char path[4096], tmp[4200], err[512];
	unsigned mode = 0;
	int fd, rc;

	if (!strcmp(o->spec.local, "-")) {
		rc = agent_file_read(c, o->spec.guest_path, STDOUT_FILENO, o->timeout_ms, NULL,
				     NULL, err, sizeof(err));
		return rc < 0 ? cli_fail("%s", err) : CLI_EXIT_OK;
	}
	rc = download_target(o, path, sizeof(path));
	if (rc)
		return rc;
	snprintf(tmp, sizeof(tmp), "%s.torpor-XXXXXX", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return cli_fail("%s: cannot create a temporary file next to it: %s", path,
				strerror(errno));
	rc = agent_file_read(c, o->spec.guest_path, fd, o->timeout_ms, &mode, NULL, err,
			     sizeof(err));
	if (rc < 0) {
		cli_error("%s", err);
		goto err;
	}
	if (o->mode >= 0)
		mode = (unsigned)o->mode;
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0 || close(fd) < 0) {
		fd = -1;
		cli_error("%s: %s", path, strerror(errno));
		goto err;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		cli_error("%s: %s", path, strerror(errno));
		goto err;
	}
	return CLI_EXIT_OK;
err:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return CLI_EXIT_FAIL;
}

int cmd_cp(int argc, char **argv)
{
	struct cp_opts o = { .mode = -1, .timeout_ms = -1 };
	const char *args[2];
	struct agent_conn *c;
	char err[512];
	int n = 0, rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (cli_is_help(a)) {
			usage(stdout);
			return CLI_EXIT_OK;
		}
		if (!strcmp(a, "--mode") || !strcmp(a, "--timeout")) {
			char *end;
			long long ms;

			if (i + 1 >= argc)
				return cli_usage_error("torpor cp", "%s needs a value", a);
			if (!strcmp(a, "--mode")) {
				errno = 0;
				o.mode = strtol(argv[++i], &end, 8);
				if (errno || *end || !*argv[i] || o.mode < 0 || o.mode > 07777)
					return cli_usage_error("torpor cp", "--mode \"%s\": expected "
							       "octal 0..7777", argv[i]);
			} else {
				if (cli_parse_seconds(argv[++i], &ms) < 0 || ms > 0x7fffffff)
					return cli_usage_error("torpor cp", "--timeout \"%s\": "
							       "expected seconds", argv[i]);
				o.timeout_ms = (int)ms;
			}
		} else if (a[0] == '-' && a[1]) {
			return cli_usage_error("torpor cp", "cp: unknown option \"%s\"", a);
		} else if (n < 2) {
			args[n++] = a;
		} else {
			return cli_usage_error("torpor cp", "cp: unexpected argument \"%s\"", a);
		}
	}
	if (n < 2)
		return cli_usage_error("torpor cp", "cp: missing %s", n ? "DST" : "SRC and DST");
	if (cp_spec_parse(args[0], args[1], &o.spec, err, sizeof(err)) < 0)
		return cli_usage_error("torpor cp", "cp: %s", err);
	rc = agent_connect(o.spec.sock, 0, &c, err, sizeof(err));
	if (rc < 0)
		return cli_fail("%s", err);
	rc = o.spec.upload ? upload(c, &o) : download(c, &o);
	agent_conn_close(c);
	return rc;
}
