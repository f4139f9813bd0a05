/* torpor: the command-line client. Top-level commands and what they share. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct command commands[] = {
	{ "vm", "<subcommand> SOCK", "control one microVM through its torpor-vmm control socket",
	  cmd_vm },
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

	fputs("torpor: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nRun '%s --help' for usage.\n", hint);
	return CLI_EXIT_USAGE;
}

int cli_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("torpor: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_EXIT_FAIL;
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
		   "Run 'torpor <command> --help' for a command's usage.\n"
		   "Exit status: 0 success, 1 the request failed or was refused, 2 usage error.\n");
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
