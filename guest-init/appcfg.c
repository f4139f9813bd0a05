/* /etc/torpor/app.json: parsing and checking with jansson into struct appcfg. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "appcfg.h"

static int __attribute__((format(printf, 3, 4)))
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const char *const restart_names[] = {
	[APPCFG_RESTART_NEVER] = "never",
	[APPCFG_RESTART_ON_FAILURE] = "on-failure",
	[APPCFG_RESTART_ALWAYS] = "always",
};

const char *appcfg_restart_name(enum appcfg_restart r)
{
	return (unsigned)r < sizeof(restart_names) / sizeof(restart_names[0]) ? restart_names[r]
									    : "?";
}

static const struct {
	int sig;
	const char *name;
} signal_names[] = {
	{ SIGHUP, "HUP" },   { SIGINT, "INT" },   { SIGQUIT, "QUIT" }, { SIGABRT, "ABRT" },
	{ SIGKILL, "KILL" }, { SIGUSR1, "USR1" }, { SIGUSR2, "USR2" }, { SIGPIPE, "PIPE" },
	{ SIGALRM, "ALRM" }, { SIGTERM, "TERM" }, { SIGCONT, "CONT" }, { SIGSTOP, "STOP" },
	{ SIGTSTP, "TSTP" }, { SIGWINCH, "WINCH" }, { SIGPWR, "PWR" },
};

int appcfg_signal_parse(const char *s)
{
	const char *name = strncmp(s, "SIG", 3) ? s : s + 3;
	char *end;
	long v;

	for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++)
		if (!strcmp(name, signal_names[i].name))
			return signal_names[i].sig;
	if (name != s || *s < '1' || *s > '9')
		return -EINVAL;
	v = strtol(s, &end, 10);
	return *end || v < 1 || v > 31 ? -EINVAL : (int)v;
}

const char *appcfg_signal_name(int sig)
{
	static char buf[24];

	for (size_t i = 0; i < sizeof(signal_names) / sizeof(signal_names[0]); i++) {
		if (signal_names[i].sig == sig) {
			snprintf(buf, sizeof(buf), "SIG%s", signal_names[i].name);
			return buf;
		}
	}
	snprintf(buf, sizeof(buf), "SIG%d", sig);
	return buf;
}

static void free_list(char **l)
{
	if (!l)
		return;
	for (char **p = l; *p; p++)
		free(*p);
	free(l);
}

void appcfg_free(struct appcfg *c)
{
	free_list(c->argv);
	free_list(c->env);
	free_list(c->hook_restored);
	free(c->cwd);
	free(c->user.name);
	free(c->user.group);
	memset(c, 0, sizeof(*c));
}

/* A copy of string v (1..APPCFG_STR_MAX bytes, or 0 if allow_empty) into *out. */
static int take_str(json_t *v, bool allow_empty, char **out, const char *what, char *err,
		    size_t errlen)
{
	size_t len;

	if (!json_is_string(v))
		return errf(err, errlen, "%s: must be a string", what);
	len = json_string_length(v);
	if (len == 0 && !allow_empty)
		return errf(err, errlen, "%s: must not be empty", what);
	if (len > APPCFG_STR_MAX)
		return errf(err, errlen, "%s: longer than %d bytes", what, APPCFG_STR_MAX);
	*out = strdup(json_string_value(v));
	return *out ? 0 : -ENOMEM;
}

/* v as a NULL-terminated list of strings; non-empty list with a non-empty first entry if argv. */
static int take_list(json_t *v, bool argv, char ***out, const char *what, char *err,
		     size_t errlen)
{
	size_t i, n;
	json_t *e;
	char **l;

	if (!json_is_array(v) || (argv && json_array_size(v) == 0))
		return errf(err, errlen, "%s: must be a%s array of strings", what,
			    argv ? " non-empty" : "n");
	n = json_array_size(v);
	if (n > APPCFG_LIST_MAX)
		return errf(err, errlen, "%s: more than %d entries", what, APPCFG_LIST_MAX);
	l = calloc(n + 1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	*out = l;
	json_array_foreach(v, i, e) {
		char w[64];
		int rc;

		snprintf(w, sizeof(w), "%s[%zu]", what, i);
		rc = take_str(e, !argv || i > 0, &l[i], w, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int take_env(json_t *v, struct appcfg *c, char *err, size_t errlen)
{
	int rc = take_list(v, false, &c->env, "env", err, errlen);

	for (size_t i = 0; rc == 0 && c->env[i]; i++) {
		const char *eq = strchr(c->env[i], '=');

		if (!eq || eq == c->env[i])
			return errf(err, errlen, "env[%zu]: \"%.40s\" is not NAME=VALUE", i,
				    c->env[i]);
	}
	return rc;
}

/* "USER" or "GROUP": all digits is a number (0 .. 2^32-2), anything else a name. */
static int take_id(const char *s, size_t len, char **name, uint32_t *num)
{
	unsigned long long v = 0;
	size_t i;

	if (len == 0)
		return -EINVAL;
	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > 0xfffffffeULL)
			return -EINVAL;
	}
	if (i == len) {
		*num = (uint32_t)v;
		return 0;
	}
	*name = strndup(s, len);
	return *name ? 0 : -ENOMEM;
}

static int take_user(json_t *v, struct appcfg *c, char *err, size_t errlen)
{
	const char *s, *colon;
	size_t len;
	int rc;

	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 256)
		return errf(err, errlen, "user: must be \"USER[:GROUP]\" (names or numbers)");
	s = json_string_value(v);
	len = strlen(s);
	colon = strchr(s, ':');
	rc = take_id(s, colon ? (size_t)(colon - s) : len, &c->user.name, &c->user.uid);
	if (rc == 0 && colon) {
		c->user.has_group = true;
		if (strchr(colon + 1, ':'))
			rc = -EINVAL;
		else
			rc = take_id(colon + 1, len - (size_t)(colon + 1 - s), &c->user.group,
				     &c->user.gid);
	}
	if (rc == -EINVAL)
		return errf(err, errlen,
			    "user: \"%.40s\" is not USER[:GROUP] (names, or numbers below 2^32-1)",
			    s);
	c->has_user = true;
	return rc;
}

static int take_restart(json_t *v, struct appcfg *c, char *err, size_t errlen)
{
	const char *s = json_is_string(v) ? json_string_value(v) : "";

	for (size_t i = 0; i < sizeof(restart_names) / sizeof(restart_names[0]); i++) {
		if (!strcmp(s, restart_names[i])) {
			c->restart = (enum appcfg_restart)i;
			return 0;
		}
	}
	return errf(err, errlen, "restart: must be \"never\", \"on-failure\" or \"always\"");
}

/* An integer lo..hi into *out. */
static int take_uint(json_t *v, long long lo, long long hi, unsigned *out, const char *what,
		     char *err, size_t errlen)
{
	long long n;

	if (!json_is_integer(v) || (n = json_integer_value(v)) < lo || n > hi)
		return errf(err, errlen, "%s: must be an integer from %lld to %lld", what, lo, hi);
	*out = (unsigned)n;
	return 0;
}

static int take_signal(json_t *v, struct appcfg *c, char *err, size_t errlen)
{
	int sig = -EINVAL;

	if (json_is_string(v))
		sig = appcfg_signal_parse(json_string_value(v));
	else if (json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 31)
		sig = (int)json_integer_value(v);
	if (sig < 0)
		return errf(err, errlen,
			    "stop_signal: must be a signal name like \"SIGTERM\" or a number 1..31");
	c->stop_signal = sig;
	return 0;
}

static int take_hooks(json_t *v, struct appcfg *c, char *err, size_t errlen)
{
	const char *key;
	json_t *h;

	if (!json_is_object(v))
		return errf(err, errlen, "hooks: must be an object");
	json_object_foreach(v, key, h) {
		if (strcmp(key, "restored"))
			return errf(err, errlen, "hooks: unknown hook \"%.64s\" (known: restored)",
				    key);
		if (!json_is_null(h)) {
			int rc = take_list(h, true, &c->hook_restored, "hooks.restored", err,
					   errlen);

			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int take_cwd(json_t *v, struct appcfg *c, char *err, size_t errlen)
{
	int rc = take_str(v, false, &c->cwd, "cwd", err, errlen);

	if (rc == 0 && c->cwd[0] != '/')
		return errf(err, errlen, "cwd: \"%.40s\" is not an absolute path", c->cwd);
	return rc;
}

static int take_argv(json_t *v, struct appcfg *c, char *err, size_t errlen)
{
	return take_list(v, true, &c->argv, "argv", err, errlen);
}

static int take_port(json_t *v, struct appcfg *c, char *err, size_t errlen)
{
	return take_uint(v, 1, 65535, &c->port, "port", err, errlen);
}

static int take_grace(json_t *v, struct appcfg *c, char *err, size_t errlen)
{
	return take_uint(v, 0, APPCFG_GRACE_MAX_MS, &c->stop_grace_ms, "stop_grace_ms", err,
			 errlen);
}

/* The fields of app.json; null means "not given" for all but argv. */
static const struct {
	const char *name;
	int (*take)(json_t *v, struct appcfg *c, char *err, size_t errlen);
} fields[] = {
	{ "argv", take_argv },
	{ "env", take_env },
	{ "cwd", take_cwd },
	{ "user", take_user },
	{ "port", take_port },
	{ "restart", take_restart },
	{ "stop_signal", take_signal },
	{ "stop_grace_ms", take_grace },
	{ "hooks", take_hooks },
};

static int take_field(const char *key, json_t *v, struct appcfg *c, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (strcmp(key, fields[i].name))
			continue;
		if (json_is_null(v) && i > 0)
			return 0;
		return fields[i].take(v, c, err, errlen);
	}
	return errf(err, errlen,
		    "unknown field \"%.64s\" (known: argv, env, cwd, user, port, restart, "
		    "stop_signal, stop_grace_ms, hooks)",
		    key);
}

int appcfg_parse(const char *text, size_t len, struct appcfg *c, char *err, size_t errlen)
{
	json_error_t je;
	const char *key;
	json_t *root, *v;
	int rc = 0;

	memset(c, 0, sizeof(*c));
	c->stop_signal = SIGTERM;
	c->stop_grace_ms = APPCFG_GRACE_DEFAULT_MS;
	c->restart = APPCFG_RESTART_NEVER;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return errf(err, errlen, "line %d, column %d: %s", je.line, je.column, je.text);
	if (!json_is_object(root)) {
		rc = errf(err, errlen, "expected a JSON object at the top level");
		goto out;
	}
	json_object_foreach(root, key, v) {
		rc = take_field(key, v, c, err, errlen);
		if (rc < 0)
			goto out;
	}
	if (!c->argv)
		rc = errf(err, errlen, "argv: missing (the program to run and its arguments)");
	else if (!c->cwd && !(c->cwd = strdup("/")))
		rc = -ENOMEM;
	if (!c->env && !(c->env = calloc(1, sizeof(*c->env))))
		rc = -ENOMEM;
out:
	if (rc == -ENOMEM)
		errf(err, errlen, "out of memory");
	json_decref(root);
	return rc;
}

int appcfg_load(const char *path, struct appcfg *c, char *err, size_t errlen)
{
	char *buf = NULL, *m;
	size_t len = 0;
	int fd, rc = 0;

	memset(c, 0, sizeof(*c));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		errf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	buf = malloc(APPCFG_FILE_MAX + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, APPCFG_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > APPCFG_FILE_MAX) {
			rc = -EFBIG;
			errf(err, errlen, "%s: larger than %d bytes", path, APPCFG_FILE_MAX);
			goto out_quiet;
		}
	}
	m = err && errlen ? malloc(errlen) : NULL;
	rc = appcfg_parse(buf, len, c, m, m ? errlen : 0);
	if (rc < 0 && m)
		errf(err, errlen, "%s: %s", path, m);
	free(m);
	goto out_quiet;
out:
	errf(err, errlen, "%s: %s", path, strerror(-rc));
out_quiet:
	free(buf);
	close(fd);
	return rc;
}
