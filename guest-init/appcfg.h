/*
 * The image's application: /etc/torpor/app.json parsed and checked into a
 * struct appcfg (pure, no I/O but appcfg_load()'s one file read). Used by
 * PID 1 to run the app and by the agent (port, hooks).
 */
#ifndef TORPOR_GUEST_INIT_APPCFG_H
#define TORPOR_GUEST_INIT_APPCFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define APPCFG_PATH "/etc/torpor/app.json"
#define APPCFG_FILE_MAX (64 * 1024)     /* bytes of app.json */
#define APPCFG_LIST_MAX 256             /* entries of argv, env, a hook's argv */
#define APPCFG_STR_MAX 4096             /* bytes of one string */
#define APPCFG_GRACE_DEFAULT_MS 5000
#define APPCFG_GRACE_MAX_MS 600000      /* 10 minutes */

enum appcfg_restart {
	APPCFG_RESTART_NEVER,
	APPCFG_RESTART_ON_FAILURE, /* exit status other than 0, or killed by a signal */
	APPCFG_RESTART_ALWAYS,
};

/* "user": "USER[:GROUP]", each a name (looked up in the rootfs when the app starts) or a number. */
struct appcfg_user {
	char *name;      /* NULL: the numeric uid */
	uint32_t uid;
	bool has_group;  /* no GROUP: the user's primary group from /etc/passwd, else 0 */
	char *group;     /* NULL: the numeric gid */
	uint32_t gid;
};

struct appcfg {
	char **argv;        /* at least one string; argv[0] is the program (PATH searched) */
	char **env;         /* "K=V" strings added to the environment; may be empty */
	char *cwd;          /* absolute; default "/" */
	struct appcfg_user user; /* default root (uid 0, name NULL, no group) */
	bool has_user;
	unsigned port;      /* the TCP port the app serves, 1..65535; 0: none given */
	enum appcfg_restart restart; /* default never */
	int stop_signal;    /* default SIGTERM */
	unsigned stop_grace_ms; /* default APPCFG_GRACE_DEFAULT_MS */
	char **hook_restored;   /* argv run by the agent after a restore, or NULL */
};

/*
 * Parse app.json's text[0..len) into *c (zeroed first; free with
 * appcfg_free() whatever the result). Every field but argv is optional;
 * unknown fields, wrong types, out-of-range values, empty strings where a
 * value is needed and duplicate keys are errors. Returns 0, or -EINVAL with
 * a one-line reason in err ("argv: must be a non-empty array of strings",
 * "line 3, column 9: ..." for JSON syntax).
 */
int appcfg_parse(const char *text, size_t len, struct appcfg *c, char *err, size_t errlen);

/*
 * Read and parse the file at path (APPCFG_PATH). Returns 0; -ENOENT if there
 * is no such file (err says so too); another -errno if it cannot be read or
 * is over APPCFG_FILE_MAX bytes; -EINVAL from appcfg_parse(). err names the
 * file. Free *c with appcfg_free() in every case.
 */
int appcfg_load(const char *path, struct appcfg *c, char *err, size_t errlen);

void appcfg_free(struct appcfg *c);

/* "never", "on-failure", "always". */
const char *appcfg_restart_name(enum appcfg_restart r);

/* A signal from "SIGTERM", "TERM" or "15" (1..31); -EINVAL if none. */
int appcfg_signal_parse(const char *s);

/* "SIGTERM" for SIGTERM, "SIG<n>" for signals without a name here (static storage, one buffer). */
const char *appcfg_signal_name(int sig);

#endif
