/* HTTP/1.1 messages: a bounded incremental parser over http-parser, and the writers. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

static int fail(struct http_msg *m, int err, const char *msg)
{
	if (!m->err) {
		m->err = err;
		m->errmsg = msg;
	}
	return -1; /* makes http-parser stop */
}

/*
 * A size cap passed inside the head is remembered, not reported at once:
 * http-parser hands over a token's bytes at the end of the token or of the
 * read, so reporting at once would make the error depend on how the bytes
 * were split. A syntax error later in the head wins; otherwise the cap is
 * reported when the head is complete. http-parser's own 80 KiB head limit
 * bounds the bytes scanned meanwhile, and nothing past a cap is stored.
 */
static void over_cap(struct http_msg *m, int err, const char *msg)
{
	if (!m->over_err) {
		m->over_err = err;
		m->over_msg = msg;
	}
}

static int count_head(struct http_msg *m, size_t len)
{
	m->head_bytes += len;
	if (m->head_bytes > HTTP_MAX_HEAD)
		over_cap(m, -E2BIG, "request line and headers larger than 8192 bytes");
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_msg *m = p->data;

	if (m->over_err || len > HTTP_MAX_PATH - m->url_len) {
		over_cap(m, -ENAMETOOLONG, "request target longer than 1024 bytes");
		return count_head(m, len);
	}
	memcpy(m->url + m->url_len, at, len);
	m->url_len += len;
	m->url[m->url_len] = '\0';
	return count_head(m, len);
}

static int on_head_data(http_parser *p, const char *at, size_t len)
{
	return count_head(p->data, len);
}

static int request_path(struct http_msg *m)
{
	struct http_parser_url u;
	size_t off, len;

	http_parser_url_init(&u);
	if (http_parser_parse_url(m->url, m->url_len, m->method == HTTP_CONNECT, &u))
		return fail(m, -EINVAL, "malformed request target");
	if (!(u.field_set & (1 << UF_PATH))) {
		strcpy(m->path, "/");
		return 0;
	}
	off = u.field_data[UF_PATH].off;
	len = u.field_data[UF_PATH].len;
	memcpy(m->path, m->url + off, len);
	m->path[len] = '\0';
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct http_msg *m = p->data;

	if (m->over_err)
		return fail(m, m->over_err, m->over_msg);
	if (p->http_major != 1)
		return fail(m, -EPROTONOSUPPORT, "only HTTP/1.x is supported");
	if (p->upgrade)
		return fail(m, -EPROTONOSUPPORT, "protocol upgrades are not supported");
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > m->body_max)
		return fail(m, -EMSGSIZE, "body larger than the limit");
	if (p->type == HTTP_REQUEST) {
		m->method = (enum http_method)p->method;
		if (request_path(m) < 0)
			return -1;
	} else {
		m->status = (int)p->status_code;
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_msg *m = p->data;
	size_t need;

	if (len > m->body_max - m->body_len)
		return fail(m, -EMSGSIZE, "body larger than the limit");
	need = m->body_len + len + 1;
	if (!m->body || need > m->body_cap) {
		size_t cap = m->body_cap ? m->body_cap : 1024;
		char *nb;

		while (cap < need)
			cap *= 2;
		if (cap > m->body_max + 1)
			cap = m->body_max + 1;
		nb = realloc(m->body, cap);
		if (!nb)
			return fail(m, -ENOMEM, "out of memory");
		m->body = nb;
		m->body_cap = cap;
	}
	memcpy(m->body + m->body_len, at, len);
	m->body_len += len;
	m->body[m->body_len] = '\0';
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_msg *m = p->data;

	m->complete = true;
	m->keep_alive = http_should_keep_alive(p);
	/* Stop right after this message: what follows belongs to the next one. */
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_url = on_url,
	.on_status = on_head_data,
	.on_header_field = on_head_data,
	.on_header_value = on_head_data,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void http_msg_init(struct http_msg *m, enum http_parser_type type, size_t body_max)
{
	memset(m, 0, sizeof(*m));
	m->body_max = body_max;
	http_parser_init(&m->parser, type);
	m->parser.data = m;
}

void http_msg_reset(struct http_msg *m)
{
	enum http_parser_type type = (enum http_parser_type)m->parser.type;
	size_t body_max = m->body_max;

	http_msg_free(m);
	http_msg_init(m, type, body_max);
}

void http_msg_free(struct http_msg *m)
{
	free(m->body);
	m->body = NULL;
	m->body_len = m->body_cap = 0;
}

int http_msg_feed(struct http_msg *m, const char *data, size_t len, size_t *used)
{
	enum http_errno e;
	size_t n;

	if (used)
		*used = 0;
	if (m->err)
		return m->err;
	if (m->complete)
		return 1;
	n = http_parser_execute(&m->parser, &settings, data, len);
	if (used)
		*used = n;
	if (m->complete)
		return 1;
	if (m->err)
		return m->err;
	e = HTTP_PARSER_ERRNO(&m->parser);
	if (len == 0) {
		fail(m, -EPIPE, "connection closed before the message was complete");
		return m->err;
	}
	if (e != HPE_OK) {
		fail(m, e == HPE_HEADER_OVERFLOW ? -E2BIG : -EINVAL, http_errno_description(e));
		return m->err;
	}
	if (m->parser.upgrade) {
		fail(m, -EPROTONOSUPPORT, "protocol upgrades are not supported");
		return m->err;
	}
	if (n != len) {
		fail(m, -EINVAL, "malformed message");
		return m->err;
	}
	return 0;
}

int http_error_status(int err)
{
	switch (err) {
	case -EMSGSIZE:
		return 413;
	case -ENAMETOOLONG:
		return 414;
	case -E2BIG:
		return 431;
	case -EPROTONOSUPPORT:
		return 505;
	case -ENOMEM:
		return 500;
	default:
		return 400;
	}
}

const char *http_reason(int status)
{
	const char *s = status >= 100 && status <= 599 ? http_status_str((enum http_status)status)
						       : "<unknown>";

	return strcmp(s, "<unknown>") ? s : "Unknown";
}

/* Head (printf format) plus body, in one malloc'd buffer. */
static char *build(const char *body, size_t blen, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static char *build(const char *body, size_t blen, size_t *len, const char *fmt, ...)
{
	va_list ap;
	char *buf;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	buf = malloc((size_t)n + blen + 1);
	if (!buf)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(buf, (size_t)n + 1, fmt, ap);
	va_end(ap);
	if (blen)
		memcpy(buf + n, body, blen);
	buf[(size_t)n + blen] = '\0';
	*len = (size_t)n + blen;
	return buf;
}

char *http_response_format(int status, const char *json_body, bool keep_alive, size_t *len)
{
	bool bodiless = status < 200 || status == 204 || status == 304;
	size_t blen = json_body && !bodiless ? strlen(json_body) : 0;
	const char *conn = keep_alive ? "keep-alive" : "close";
	char clen[96] = "";

	if (!bodiless)
		snprintf(clen, sizeof(clen), "%sContent-Length: %zu\r\n",
			 blen ? "Content-Type: application/json\r\n" : "", blen);
	return build(json_body, blen, len, "HTTP/1.1 %d %s\r\n%sConnection: %s\r\n\r\n", status,
		     http_reason(status), clen, conn);
}

char *http_request_format(const char *method, const char *path, const char *json_body,
			  size_t *len)
{
	size_t blen = json_body ? strlen(json_body) : 0;
	char clen[128] = "";

	if (json_body)
		snprintf(clen, sizeof(clen),
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
	return build(json_body, blen, len,
		     "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
		     "%sConnection: close\r\n\r\n",
		     method, path, clen);
}
