/*
 * The agent's request checking: every field of every op's CTRL request,
 * typed and range-checked, and base64. Pure (jansson only, no I/O),
 * unit-tested (tests/unit/test_agent_req.c) and fuzzed.
 */
#ifndef TORPOR_GUEST_INIT_AGENT_REQ_H
#define TORPOR_GUEST_INIT_AGENT_REQ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQ_ERR_MAX	   256
#define REQ_ENTROPY_MIN	   32
#define REQ_ENTROPY_MAX	   512
#define REQ_TIMEOUT_MAX_MS (365ull * 24 * 3600 * 1000) /* timeouts above a year are refused */
#define REQ_PATH_MAX	   4095

/* Why a request was refused (an EINVAL error reply), e.g. "argv: must be an array of strings". */
struct req_err {
	char msg[REQ_ERR_MAX];
};

/*
 * The request in payload[0..len): a JSON object with a string "op". Returns
 * the object (the caller's reference), or NULL with why in *e. *op points
 * into the object.
 */
json_t *req_load(const uint8_t *payload, size_t len, const char **op, struct req_err *e);

/* exec and pty. Strings point into the request object; free with req_exec_free(). */
struct req_exec {
	const char **argv; /* NULL-terminated */
	const char **env;  /* NULL-terminated, "K=V" each; NULL if none */
	const char *cwd;   /* absolute, or NULL */
	bool has_uid, has_gid;
	uint32_t uid, gid;
	uint64_t timeout_ms; /* 0: none */
	bool stdin_open;     /* exec: DATA on IN feeds stdin (default true) */
	unsigned rows, cols; /* pty: 24x80 by default */
	const char *term;    /* pty: "xterm-256color" by default */
};

int req_exec_parse(json_t *req, bool pty, struct req_exec *r, struct req_err *e);
void req_exec_free(struct req_exec *r);

/* signal: 1..64. */
int req_signal_parse(json_t *req, int *sig, struct req_err *e);
/* resize: rows and cols, 1..65535 each. */
int req_resize_parse(json_t *req, unsigned *rows, unsigned *cols, struct req_err *e);

/* file_write, file_read, stat, list, remove. */
struct req_file {
	const char *path; /* absolute */
	uint32_t mode;	  /* file_write: 0644 by default, at most 07777 */
	bool has_uid, has_gid;
	uint32_t uid, gid;
	bool recursive; /* remove */
};

/* op: the request's op (decides which fields apply). */
int req_file_parse(json_t *req, const char *op, struct req_file *r, struct req_err *e);

struct req_relay {
	uint16_t port;
	const char *host; /* an IPv4 or IPv6 literal; "127.0.0.1" by default */
};

int req_relay_parse(json_t *req, struct req_relay *r, struct req_err *e);

struct req_ready {
	bool has_port;
	uint16_t port;
	uint64_t timeout_ms; /* 10000 by default */
};

int req_ready_parse(json_t *req, struct req_ready *r, struct req_err *e);

struct req_restored {
	bool has_entropy, has_time;
	size_t entropy_len;
	uint8_t entropy[REQ_ENTROPY_MAX];
	int64_t time_ns;
};

int req_restored_parse(json_t *req, struct req_restored *r, struct req_err *e);

/*
 * Decode standard base64 (RFC 4648, "=" padding optional, no whitespace)
 * from in[0..len) into out (cap bytes). Returns the decoded length,
 * -EINVAL for bad input or -E2BIG if it does not fit.
 */
long b64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

#endif
