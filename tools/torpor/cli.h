/* The torpor CLI: command tables and what every command shares. */
#ifndef TORPOR_CLI_H
#define TORPOR_CLI_H

#include <stddef.h>
#include <stdio.h>

#ifndef TORPOR_VERSION
#define TORPOR_VERSION "unknown"
#endif

/* Exit statuses, the same for every command (exec and shell: see docs/cli.md). */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,  /* the API answered with an error, or could not be reached */
	CLI_EXIT_USAGE = 2, /* bad command line */
	CLI_EXIT_EXEC_FAIL = 125, /* exec/shell: torpor itself failed (or a bad command line) */
};

/* One (sub)command: argv[0] is its name, argv[1..] its arguments. */
struct command {
	const char *name;
	const char *args; /* synopsis of the arguments, for help */
	const char *help; /* one line */
	int (*run)(int argc, char **argv);
};

/* Find name in a table of n commands, or NULL. */
const struct command *cli_command_find(const struct command *t, size_t n, const char *name);
/* The table as help lines: "  name args    help". */
void cli_command_list(FILE *f, const struct command *t, size_t n);
/* True when s is -h or --help. */
int cli_is_help(const char *s);
/* Print "torpor: error: <msg>" and a hint to stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *hint, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "torpor: error: <msg>" to stderr; returns CLI_EXIT_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "torpor: error: <msg>" to stderr, nothing else. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "SEC" (decimal, e.g. 2 or 0.5; more than 0, at most a year) as milliseconds; -EINVAL if bad. */
int cli_parse_seconds(const char *s, long long *ms);
/* A decimal number in [min, max]; -EINVAL if bad. */
int cli_parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *v);

/* Commands. */
int cmd_vm(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_shell(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_ping(int argc, char **argv);
int cmd_ready(int argc, char **argv);
int cmd_relay(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_rm(int argc, char **argv);

#endif
