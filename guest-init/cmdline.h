/* Kernel command line parsing: the kernel's quoting rules, as a pure function (no I/O). */
#ifndef TORPOR_GUEST_INIT_CMDLINE_H
#define TORPOR_GUEST_INIT_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

/* Size of the torpor.run buffer: the value may hold at most CMDLINE_RUN_MAX - 1 bytes. */
#define CMDLINE_RUN_MAX 2048
/* Size of the buffers of the other torpor.* values (hostname, ip, gw, dns). */
#define CMDLINE_VAL_MAX 128

/* One parameter: spans into the parsed text, not NUL-terminated. */
struct cmdline_param {
	const char *key;
	size_t key_len;
	const char *val; /* NULL when the parameter has no '=' */
	size_t val_len;
};

/* Walks a command line one parameter at a time; set up with cmdline_iter_init(). */
struct cmdline_iter {
	const char *pos, *end;
};

/* What guest-init takes from the command line. */
struct cmdline {
	bool has_run;              /* torpor.run=... was given (possibly empty) */
	char run[CMDLINE_RUN_MAX]; /* its value, NUL-terminated, quotes removed */
	/* The values of torpor.hostname, torpor.ip, torpor.gw, torpor.dns; "" when not given. */
	char hostname[CMDLINE_VAL_MAX];
	char ip[CMDLINE_VAL_MAX];
	char gw[CMDLINE_VAL_MAX];
	char dns[CMDLINE_VAL_MAX];
	int root_ro;          /* the kernel's "ro" (1) or "rw" (0), the last one given; -1: neither */
	const char *too_long; /* the last of those torpor.* names whose value was too long, or NULL */
};

/*
 * Iterate over text[0..len) (it need not be NUL-terminated; a NUL byte ends
 * it). The text is only read, never modified, and must outlive the iterator.
 */
void cmdline_iter_init(struct cmdline_iter *it, const char *text, size_t len);

/*
 * Fill *p with the next parameter and return true, or return false at the
 * end. Splits and unquotes exactly like the kernel's next_arg()
 * (lib/cmdline.c):
 * - parameters are separated by whitespace (ASCII, and 0xA0 as in the
 *   kernel's ctype); a double quote protects whitespace up to the next one,
 *   and an unterminated quote runs to the end of the text;
 * - the key ends at the first '=' after its first byte (none: val is NULL);
 * - a value that starts with '"' loses that quote, and then also a '"' that
 *   ends the parameter; a parameter that starts with '"' loses it, and a '"'
 *   that ends the parameter; every other quote is kept.
 * There is no escape character.
 */
bool cmdline_next(struct cmdline_iter *it, struct cmdline_param *p);

/* True if p's key is name, with '-' and '_' equal (the kernel's parameq()). */
bool cmdline_key_is(const struct cmdline_param *p, const char *name);

/*
 * Parse text[0..len) into *out (always reset first). Parameters after a bare
 * "--" are for init's argv and are not read, as in the kernel; a later
 * parameter replaces an earlier one of the same name; torpor.* names without
 * '=' are ignored, as are "ro=..." and "rw=...".
 * Returns 0, or -E2BIG if a torpor.run value has CMDLINE_RUN_MAX bytes or
 * more (it is refused, never truncated; out->has_run is then false). A value
 * of torpor.hostname, .ip, .gw or .dns of CMDLINE_VAL_MAX bytes or more is
 * ignored (the field keeps any earlier value) and named in out->too_long.
 */
int cmdline_parse(const char *text, size_t len, struct cmdline *out);

#endif
