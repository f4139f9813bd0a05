/* The host-side handshake lines of the vsock Unix socket. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "line.h"

#define PORT_ANY 0xffffffffu /* VMADDR_PORT_ANY: not a port one connects to */

int vsock_line_end(const char *buf, size_t len)
{
	const char *nl;

	if (len > VSOCK_LINE_MAX)
		len = VSOCK_LINE_MAX;
	nl = memchr(buf, '\n', len);
	if (nl)
		return (int)(nl - buf) + 1;
	return len == VSOCK_LINE_MAX ? -EMSGSIZE : 0;
}

int vsock_line_parse_connect(const char *line, size_t len, uint32_t *port)
{
	static const char verb[] = "CONNECT ";
	uint64_t v = 0;
	size_t i = sizeof(verb) - 1, digits = 0;

	if (len > VSOCK_LINE_MAX || len < sizeof(verb) || memcmp(line, verb, sizeof(verb) - 1))
		return -EINVAL;
	for (; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
		if (++digits > 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(line[i] - '0');
	}
	if (!digits || v >= PORT_ANY)
		return -EINVAL;
	if (i < len && line[i] == '\r')
		i++;
	if (i + 1 != len || line[i] != '\n')
		return -EINVAL;
	*port = (uint32_t)v;
	return 0;
}

int vsock_line_format_ok(char *buf, size_t size, uint32_t port)
{
	return snprintf(buf, size, "OK %u\n", port);
}
