/* ioctl wrappers: a raw one returning the result or -errno, a checking one that logs. */
#ifndef TORPOR_KVM_H
#define TORPOR_KVM_H

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "log.h"

/* ioctl(fd, req, arg): the result (>= 0) or -errno. */
static inline int kvm_ioctl_raw(int fd, unsigned long req, unsigned long arg)
{
	int rc = ioctl(fd, req, arg);

	return rc < 0 ? -errno : rc;
}

static inline int kvm_ioctl_checked(int fd, unsigned long req, const char *name,
				    unsigned long arg)
{
	int rc = kvm_ioctl_raw(fd, req, arg);

	if (rc < 0)
		pr_err("%s failed: rc=%d (%s)", name, rc, strerror(-rc));
	return rc;
}

/* Like kvm_ioctl_raw, but logs the ioctl's name, rc and strerror on failure. */
#define kvm_ioctl(fd, req, arg) kvm_ioctl_checked((fd), (req), #req, (unsigned long)(arg))

#endif
