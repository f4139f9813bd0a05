/* The API client: one HTTP/1.1 + JSON request over a Unix socket, one response. */
#ifndef TORPOR_CLIENT_H
#define TORPOR_CLIENT_H

#include <stddef.h>

#define API_TIMEOUT_MS  30000     /* connect, send and receive, in all */
#define API_MAX_BODY    (1 << 20) /* larger responses are refused */

struct api_response {
	int status;
	char *body; /* NUL-terminated JSON text, or NULL when empty */
	size_t body_len;
};

/*
 * Send method path (with json_body, or NULL) to the API listening at sock and
 * read the whole response into r, whatever its status. Returns 0, or -errno
 * with one line in err (cannot connect, timeout, malformed response).
 */
int api_call(const char *sock, const char *method, const char *path, const char *json_body,
	     struct api_response *r, char *err, size_t errlen);
void api_response_free(struct api_response *r);

/* An error response's message: its JSON "error" string, else the reason phrase. */
const char *api_error(const struct api_response *r, char *buf, size_t len);

/*
 * Wait until nothing listens at sock any more (the process behind it has
 * exited). Returns 0, or -ETIMEDOUT after timeout_ms.
 */
int api_wait_gone(const char *sock, int timeout_ms);

#endif
