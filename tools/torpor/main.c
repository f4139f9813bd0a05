/* torpor: the command-line client. Top-level commands and what they share. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct command commands[] = {
	{ "vm", "<subcommand> SOCK", "control one microVM through its torpor-vmm control socket",
	  cmd_vm },
	{ "exec", "VSOCK -- CMD...", "run a command in the guest; stdio and exit status pass "
	  "through", cmd_exec },
	{ "shell", "VSOCK [-- CMD...]", "an interactive terminal session in the guest", cmd_shell },
	{ "cp", "[--mode M] SRC DST", "copy a file to or from the guest (guest:VSOCK:/path)",
	  cmd_cp },
	{ "ping", "VSOCK", "check the guest agent: uptime and version", cmd_ping },
	{ "ready", "VSOCK [--port P]", "wait until a TCP port in the guest accepts connections",
	  cmd_ready },
	{ "relay", "VSOCK PORT", "connect stdin/stdout to a TCP port inside the guest", cmd_relay },
	{ "stat", "VSOCK PATH", "a guest file's type, mode, size, owner and mtime", cmd_stat },
	{ "ls", "VSOCK PATH", "list a guest directory", cmd_ls },
	{ "rm", "[-r] VSOCK PATH", "remove a guest file (or a tree, with -r)", cmd_rm },
};
#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

const struct command *cli_command_find(const struct command *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(t[i].name, name))
			return &t[i];
	return NULL;
}

void cli_command_list(FILE *f, const struct command *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int w = fprintf(f, "  %s %s", t[i].name, t[i].args);

		fprintf(f, "%*s%s\n", w < 26 ? 26 - w : 1, "", t[i].help);
	}
}

int cli_is_help(const char *s)
{
	return !strcmp(s, "-h") || !strcmp(s, "--help");
}

int cli_usage_error(const char *hint, const char *fmt, ...)
{
	va_list ap;

	fputs("torpor: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun '%s --help' for usage.\n", hint);
	return CLI_EXIT_USAGE;
}

int cli_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("torpor: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_EXIT_FAIL;
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("torpor: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_parse_seconds(const char *s, long long *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 365.0 * 24 * 3600)
		return -EINVAL;
	*ms = (long long)(v * 1000 + 0.5);
	if (*ms < 1)
		*ms = 1;
	return 0;
}

int cli_parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoul(s, &end, 10);
	if (errno || *end || *v < min || *v > max)
		return -EINVAL;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: torpor <command> [arguments]\n"
		   "\n"
		   "Commands:\n");
	cli_command_list(f, commands, NR_COMMANDS);
	fprintf(f, "\n"
		   "Options:\n"
		   "  -h, --help                print this help and exit\n"
		   "  --version                 print the version and exit\n"
		   "\n"
		   "VSOCK is a microVM's vsock socket (torpor-vmm --vsock cid=N,uds=VSOCK); the\n"
		   "guest agent answers on its port 1024. SOCK is the VMM's control socket.\n"
		   "\n"
		   "Run 'torpor <command> --help' for a command's usage.\n"
		   "Exit status: 0 success, 1 the request failed or was refused, 2 usage error;\n"
		   "exec and shell pass the command's status through (125: torpor failed).\n");
}

int main(int argc, char **argv)
{
	const struct command *cmd;

	if (argc < 2)
		return cli_usage_error("torpor", "missing command");
	if (cli_is_help(argv[1])) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("torpor %s\n", TORPOR_VERSION);
		return CLI_EXIT_OK;
	}
	cmd = cli_command_find(commands, NR_COMMANDS, argv[1]);
	if (!cmd)
		return cli_usage_error("torpor", "unknown command \"%s\"", argv[1]);
	return cmd->run(argc - 1, argv + 1);
}
