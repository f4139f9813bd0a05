/* The agent's request checking: typed, range-checked fields of each op's request; base64. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_req.h"

#define U32_ID_MAX 4294967294ull /* uid/gid: (uid_t)-1 means "unchanged" to the kernel */

static int fail(struct req_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct req_err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A field's value; JSON null counts as absent. */
static json_t *field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_null(v) ? NULL : v;
}

static int get_str(json_t *o, const char *key, bool required, const char **out, struct req_err *e)
{
	json_t *v = field(o, key);

	*out = NULL;
	if (!v)
		return required ? fail(e, "%s: required", key) : 0;
	if (!json_is_string(v))
		return fail(e, "%s: must be a string", key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(e, "%s: must not contain NUL", key);
	*out = json_string_value(v);
	return 0;
}

static int get_uint(json_t *o, const char *key, uint64_t min, uint64_t max, bool *has,
		    uint64_t *out, struct req_err *e)
{
	json_t *v = field(o, key);
	json_int_t n;

	*has = false;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return fail(e, "%s: must be an integer", key);
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max)
		return fail(e, "%s: must be %llu..%llu", key, (unsigned long long)min,
			    (unsigned long long)max);
	*has = true;
	*out = (uint64_t)n;
	return 0;
}

/* An integer field that must be present. */
static int need_uint(json_t *o, const char *key, uint64_t min, uint64_t max, uint64_t *out,
		     struct req_err *e)
{
	bool has;
	int rc = get_uint(o, key, min, max, &has, out, e);

	if (!rc && !has)
		return fail(e, "%s: required", key);
	return rc;
}

static int get_bool(json_t *o, const char *key, bool def, bool *out, struct req_err *e)
{
	json_t *v = field(o, key);

	*out = def;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return fail(e, "%s: must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

/* An array of strings as a NULL-terminated array of pointers into it (malloc'ed). */
static int get_strv(json_t *o, const char *key, const char ***out, struct req_err *e)
{
	json_t *v = field(o, key), *s;
	const char **a;
	size_t i;

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v))
		return fail(e, "%s: must be an array of strings", key);
	a = calloc(json_array_size(v) + 1, sizeof(*a));
	if (!a)
		return fail(e, "%s: out of memory", key);
	json_array_foreach(v, i, s)
	{
		if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
			free(a);
			return fail(e, "%s[%zu]: must be a string without NUL", key, i);
		}
		a[i] = json_string_value(s);
	}
	*out = a;
	return 0;
}

static int get_path(json_t *o, const char *key, bool required, const char **out, struct req_err *e)
{
	int rc = get_str(o, key, required, out, e);

	if (rc || !*out)
		return rc;
	if ((*out)[0] != '/')
		return fail(e, "%s: must be an absolute path", key);
	if (strlen(*out) > REQ_PATH_MAX)
		return fail(e, "%s: longer than %d bytes", key, REQ_PATH_MAX);
	return 0;
}

static int get_ids(json_t *o, bool *has_uid, uint32_t *uid, bool *has_gid, uint32_t *gid,
		   struct req_err *e)
{
	uint64_t v = 0;
	int rc;

	rc = get_uint(o, "uid", 0, U32_ID_MAX, has_uid, &v, e);
	*uid = (uint32_t)v;
	if (rc)
		return rc;
	v = 0;
	rc = get_uint(o, "gid", 0, U32_ID_MAX, has_gid, &v, e);
	*gid = (uint32_t)v;
	return rc;
}

json_t *req_load(const uint8_t *payload, size_t len, const char **op, struct req_err *e)
{
	json_error_t jerr;
	json_t *req;

	*op = NULL;
	req = json_loadb((const char *)payload, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req) {
		fail(e, "bad JSON at byte %d: %s", jerr.position, jerr.text);
		return NULL;
	}
	if (!json_is_object(req)) {
		fail(e, "the request must be a JSON object");
		goto err;
	}
	if (get_str(req, "op", true, op, e))
		goto err;
	return req;
err:
	json_decref(req);
	return NULL;
}

static int check_env(const char **env, struct req_err *e)
{
	for (size_t i = 0; env && env[i]; i++) {
		const char *eq = strchr(env[i], '=');

		if (!eq || eq == env[i])
			return fail(e, "env[%zu]: must be \"NAME=value\"", i);
	}
	return 0;
}

static int exec_argv(json_t *req, bool pty, struct req_exec *r, struct req_err *e)
{
	int rc = get_strv(req, "argv", &r->argv, e);

	if (rc)
		return rc;
	if (!r->argv && pty) {
		r->argv = calloc(2, sizeof(*r->argv));
		if (!r->argv)
			return fail(e, "argv: out of memory");
		r->argv[0] = "/bin/sh";
	}
	if (!r->argv || !r->argv[0])
		return fail(e, "argv: required, at least one string");
	if (!r->argv[0][0])
		return fail(e, "argv[0]: must not be empty");
	return 0;
}

static int exec_pty_fields(json_t *req, struct req_exec *r, struct req_err *e)
{
	uint64_t v = 24;
	bool has;
	int rc;

	rc = get_uint(req, "rows", 1, 65535, &has, &v, e);
	r->rows = has ? (unsigned)v : 24;
	if (!rc)
		rc = get_uint(req, "cols", 1, 65535, &has, &v, e);
	r->cols = has ? (unsigned)v : 80;
	if (!rc)
		rc = get_str(req, "term", false, &r->term, e);
	if (!rc && r->term && !r->term[0])
		rc = fail(e, "term: must not be empty");
	if (!r->term)
		r->term = "xterm-256color";
	return rc;
}

int req_exec_parse(json_t *req, bool pty, struct req_exec *r, struct req_err *e)
{
	bool has;
	int rc;

	memset(r, 0, sizeof(*r));
	r->stdin_open = true;
	rc = exec_argv(req, pty, r, e);
	if (!rc)
		rc = get_strv(req, "env", &r->env, e);
	if (!rc)
		rc = check_env(r->env, e);
	if (!rc)
		rc = get_path(req, "cwd", false, &r->cwd, e);
	if (!rc)
		rc = get_ids(req, &r->has_uid, &r->uid, &r->has_gid, &r->gid, e);
	if (!rc)
		rc = get_uint(req, "timeout_ms", 0, REQ_TIMEOUT_MAX_MS, &has, &r->timeout_ms, e);
	if (!rc && !pty)
		rc = get_bool(req, "stdin", true, &r->stdin_open, e);
	if (!rc && pty)
		rc = exec_pty_fields(req, r, e);
	if (rc)
		req_exec_free(r);
	return rc;
}

void req_exec_free(struct req_exec *r)
{
	free(r->argv);
	free(r->env);
	r->argv = r->env = NULL;
}

int req_signal_parse(json_t *req, int *sig, struct req_err *e)
{
	uint64_t v = 0;
	int rc = need_uint(req, "signal", 1, 64, &v, e);

	*sig = (int)v;
	return rc;
}

int req_resize_parse(json_t *req, unsigned *rows, unsigned *cols, struct req_err *e)
{
	uint64_t r = 0, c = 0;
	int rc = need_uint(req, "rows", 1, 65535, &r, e);

	if (!rc)
		rc = need_uint(req, "cols", 1, 65535, &c, e);
	*rows = (unsigned)r;
	*cols = (unsigned)c;
	return rc;
}

int req_file_parse(json_t *req, const char *op, struct req_file *r, struct req_err *e)
{
	uint64_t mode = 0644;
	bool has;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = get_path(req, "path", true, &r->path, e);
	if (!rc && !strcmp(op, "file_write")) {
		rc = get_uint(req, "mode", 0, 07777, &has, &mode, e);
		if (!rc)
			rc = get_ids(req, &r->has_uid, &r->uid, &r->has_gid, &r->gid, e);
	}
	r->mode = (uint32_t)mode;
	if (!rc && !strcmp(op, "remove"))
		rc = get_bool(req, "recursive", false, &r->recursive, e);
	return rc;
}

int req_relay_parse(json_t *req, struct req_relay *r, struct req_err *e)
{
	unsigned char addr[16];
	uint64_t port = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = need_uint(req, "port", 1, 65535, &port, e);
	r->port = (uint16_t)port;
	if (!rc)
		rc = get_str(req, "host", false, &r->host, e);
	if (rc)
		return rc;
	if (!r->host)
		r->host = "127.0.0.1";
	if (inet_pton(AF_INET, r->host, addr) != 1 && inet_pton(AF_INET6, r->host, addr) != 1)
		return fail(e, "host: must be an IPv4 or IPv6 address");
	return 0;
}

int req_ready_parse(json_t *req, struct req_ready *r, struct req_err *e)
{
	uint64_t port = 0;
	bool has;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = get_uint(req, "port", 1, 65535, &r->has_port, &port, e);
	r->port = (uint16_t)port;
	if (!rc)
		rc = get_uint(req, "timeout_ms", 0, REQ_TIMEOUT_MAX_MS, &has, &r->timeout_ms, e);
	if (!rc && !has)
		r->timeout_ms = 10000;
	return rc;
}

int req_restored_parse(json_t *req, struct req_restored *r, struct req_err *e)
{
	const char *b64;
	uint64_t t = 0;
	long n;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = get_str(req, "entropy", false, &b64, e);
	if (!rc)
		rc = get_uint(req, "time_ns", 0, INT64_MAX, &r->has_time, &t, e);
	if (rc)
		return rc;
	r->time_ns = (int64_t)t;
	if (!b64)
		return 0;
	n = b64_decode(b64, strlen(b64), r->entropy, sizeof(r->entropy));
	if (n == -EINVAL)
		return fail(e, "entropy: not base64");
	if (n < REQ_ENTROPY_MIN || n > REQ_ENTROPY_MAX)
		return fail(e, "entropy: must be %d..%d bytes", REQ_ENTROPY_MIN, REQ_ENTROPY_MAX);
	r->has_entropy = true;
	r->entropy_len = (size_t)n;
	return 0;
}

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long b64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	size_t pad = 0, n = 0;
	unsigned bits = 0;
	uint32_t acc = 0;

	while (pad < 2 && len > pad && in[len - 1 - pad] == '=')
		pad++;
	len -= pad;
	if (len % 4 == 1 || (pad && (len % 4) + pad != 4))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int v = b64_val((unsigned char)in[i]);

		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap)
				return -E2BIG;
			out[n++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return acc ? -EINVAL : (long)n; /* leftover bits must be zero (canonical form) */
}
