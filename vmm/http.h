/*
 * HTTP/1.1 messages over http-parser: an incremental, bounded parser for
 * requests (the control socket) and responses (the torpor CLI), and the
 * writers for both. Pure code, no sockets, no logging.
 */
#ifndef TORPOR_HTTP_H
#define TORPOR_HTTP_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>

#define HTTP_MAX_PATH 1024          /* request path, bytes (longer: 414) */
#define HTTP_MAX_HEAD (8 * 1024)    /* request line/status + header bytes (more: 431) */
#define HTTP_MAX_BODY (64 * 1024)   /* default body cap (more: 413) */

struct http_msg {
	http_parser parser;
	size_t body_max;
	size_t head_bytes;         /* url/status + header field and value bytes so far */
	char url[HTTP_MAX_PATH + 1]; /* request target as sent (path and query) */
	size_t url_len;

	/* Filled as the message arrives; valid once complete. */
	enum http_method method;   /* requests */
	char path[HTTP_MAX_PATH + 1]; /* requests: the URL's path, NUL-terminated */
	int status;                /* responses: the status code */
	char *body;                /* NUL-terminated (malloc'd), NULL when empty */
	size_t body_len;
	size_t body_cap;
	bool keep_alive;           /* the peer allows another message on the connection */
	bool complete;

	int err;                   /* first error, -errno; 0 when none */
	const char *errmsg;        /* what was wrong, for the error reply */
	int over_err;              /* a size cap passed, reported at the end of the head */
	const char *over_msg;
};

/*
 * Start parsing a request (type HTTP_REQUEST) or a response (HTTP_RESPONSE)
 * whose body may hold up to body_max bytes.
 */
void http_msg_init(struct http_msg *m, enum http_parser_type type, size_t body_max);
/* Forget the message, keep the type and caps: ready for the next one on the connection. */
void http_msg_reset(struct http_msg *m);
void http_msg_free(struct http_msg *m);

/*
 * Feed len bytes. Returns 1 when the message is complete (*used tells how
 * many bytes it took: the rest belongs to the next message), 0 when more is
 * needed (all len bytes used), or -errno when the input is malformed or over
 * a cap (m->errmsg says why; http_error_status() gives the reply's code):
 * -EMSGSIZE body too large, -ENAMETOOLONG path too long, -E2BIG headers too
 * large, -EPROTONOSUPPORT not HTTP/1.x or an upgrade, -EINVAL malformed,
 * -ENOMEM. len == 0 means the peer closed: completes a response that ends at
 * EOF, otherwise -EPIPE for a truncated message. used may be NULL.
 */
int http_msg_feed(struct http_msg *m, const char *data, size_t len, size_t *used);

/* The status code for an http_msg_feed() error: 400, 413, 414, 431, 500, 505. */
int http_error_status(int err);
/* "OK", "Not Found", ... ("Unknown" for codes it does not know). */
const char *http_reason(int status);

/*
 * A response with a JSON body (NULL: none) as one malloc'd buffer of *len
 * bytes, with Content-Length (not for 204/304) and Connection: keep-alive or
 * close. Returns NULL when out of memory.
 */
char *http_response_format(int status, const char *json_body, bool keep_alive, size_t *len);
/* A request with a JSON body (NULL: none), Connection: close. Same contract. */
char *http_request_format(const char *method, const char *path, const char *json_body,
			  size_t *len);

#endif
