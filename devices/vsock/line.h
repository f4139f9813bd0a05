/* The host-side handshake of the vsock Unix socket: "CONNECT <port>\n" in, "OK <port>\n" out. */
#ifndef TORPOR_VSOCK_LINE_H
#define TORPOR_VSOCK_LINE_H

#include <stddef.h>
#include <stdint.h>

/* Longest CONNECT line accepted, newline included. */
#define VSOCK_LINE_MAX 64

/*
 * Parse one CONNECT line: line[0..len) up to and including its '\n'
 * ("CONNECT" SP 1*10DIGIT [CR] LF, the port at most 0xfffffffe). Returns 0
 * with *port set, or -EINVAL when the line is anything else.
 */
int vsock_line_parse_connect(const char *line, size_t len, uint32_t *port);

/*
 * Where a line ends in the first len bytes a client sent: the length up to
 * and including '\n', 0 if no '\n' yet and more may come, or -EMSGSIZE once
 * VSOCK_LINE_MAX bytes hold no '\n'.
 */
int vsock_line_end(const char *buf, size_t len);

/* Write "OK <port>\n" into buf; returns its length (buf holds at least 16 bytes). */
int vsock_line_format_ok(char *buf, size_t size, uint32_t port);

#endif
