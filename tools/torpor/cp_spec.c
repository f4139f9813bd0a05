/* torpor cp: parsing SRC and DST (guest:VSOCK:/path on exactly one side). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cp_spec.h"

static bool is_guest(const char *a)
{
	return !strncmp(a, CP_GUEST_PREFIX, strlen(CP_GUEST_PREFIX));
}

/* Split guest:VSOCK:/path. */
static int split_guest(const char *a, struct cp_spec *cp, char *err, size_t errlen)
{
	const char *rest = a + strlen(CP_GUEST_PREFIX);
	const char *sep = strstr(rest, ":/");
	size_t n;

	if (!sep) {
		snprintf(err, errlen, "\"%s\": expected %sVSOCK:/absolute/path", a,
			 CP_GUEST_PREFIX);
		return -EINVAL;
	}
	n = (size_t)(sep - rest);
	if (!n) {
		snprintf(err, errlen, "\"%s\": no VSOCK socket before the guest path", a);
		return -EINVAL;
	}
	if (n >= sizeof(cp->sock)) {
		snprintf(err, errlen, "\"%s\": the socket path is too long", a);
		return -EINVAL;
	}
	memcpy(cp->sock, rest, n);
	cp->sock[n] = '\0';
	cp->guest_path = sep + 1;
	return 0;
}

int cp_spec_parse(const char *src, const char *dst, struct cp_spec *cp, char *err,
		  size_t errlen)
{
	bool gs = is_guest(src), gd = is_guest(dst);

	memset(cp, 0, sizeof(*cp));
	if (gs && gd) {
		snprintf(err, errlen, "both SRC and DST are in a guest; one must be a host path");
		return -EINVAL;
	}
	if (!gs && !gd) {
		snprintf(err, errlen, "neither SRC nor DST is in a guest (write %sVSOCK:/path)",
			 CP_GUEST_PREFIX);
		return -EINVAL;
	}
	cp->upload = gd;
	cp->local = gd ? src : dst;
	if (!*cp->local) {
		snprintf(err, errlen, "empty host path");
		return -EINVAL;
	}
	return split_guest(gd ? dst : src, cp, err, errlen);
}
