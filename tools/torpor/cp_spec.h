/* torpor cp: which side of a copy is the guest (guest:VSOCK:/path), parsed without I/O. */
#ifndef TORPOR_CP_SPEC_H
#define TORPOR_CP_SPEC_H

#include <stdbool.h>
#include <stddef.h>

#define CP_GUEST_PREFIX "guest:"

struct cp_spec {
	bool upload;            /* host → guest (else guest → host) */
	char sock[108];         /* the VMM's vsock socket */
	const char *guest_path; /* absolute, points into the argument */
	const char *local;      /* a host path, or "-" for stdin/stdout */
};

/*
 * Parse `torpor cp SRC DST`: exactly one of them is guest:VSOCK:/abs/path
 * (VSOCK ends at the first ":/", so it cannot contain ":/"; the guest path
 * is absolute), the other a host path or "-". Returns 0, or -EINVAL with
 * one line in err.
 */
int cp_spec_parse(const char *src, const char *dst, struct cp_spec *cp, char *err,
		  size_t errlen);

#endif
