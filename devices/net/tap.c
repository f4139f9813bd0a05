/* TAP interfaces: creating or attaching through /dev/net/tun, the vnet header, offload flags. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include "config.h"
#include "devices/net/net_hdr.h"
#include "devices/net/tap.h"
#include "log.h"

/* Why TUNSETIFF may have failed, for the error line. */
static const char *setiff_hint(int err, bool existed)
{
	switch (err) {
	case EPERM:
		return existed ? " (attaching needs CAP_NET_ADMIN, or a persistent TAP owned by "
				 "this user or group)"
			       : " (creating a TAP needs CAP_NET_ADMIN)";
	case EBUSY:
		return " (another process is attached to it)";
	case EINVAL:
		return existed ? " (an interface of that name exists and is not a TAP)" : "";
	default:
		return "";
	}
}

static int tap_ioctl(struct tap *t, unsigned long req, const char *name, void *arg)
{
	int rc;

	if (ioctl(t->fd, req, arg) == 0)
		return 0;
	rc = -errno;
	pr_err("net: TAP %s: %s: %s", t->name, name, strerror(-rc));
	return rc;
}

/* Attach fd to the TAP, creating it if needed. */
static int attach(struct tap *t, const char *name)
{
	struct ifreq ifr;
	bool existed = if_nametoindex(name) != 0;
	int rc;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		pr_err("net: TAP %s: TUNSETIFF: %s%s", name, strerror(-rc),
		       setiff_hint(-rc, existed));
		return rc;
	}
	snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	t->created = !existed;
	t->ifindex = (int)if_nametoindex(t->name);
	if (!t->ifindex) {
		rc = -errno;
		pr_err("net: TAP %s: no interface index: %s", t->name, strerror(-rc));
		return rc;
	}
	return 0;
}

int tap_set_offloads(struct tap *t, unsigned int tun_flags)
{
	return tap_ioctl(t, TUNSETOFFLOAD, "TUNSETOFFLOAD", (void *)(unsigned long)tun_flags);
}

int tap_open(struct tap *t, const struct net_config *cfg)
{
	int hdr = NET_HDR_LEN, le = 1, rc;

	snprintf(t->name, sizeof(t->name), "%s", cfg->tap);
	t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (t->fd < 0) {
		rc = -errno;
		pr_err("net: /dev/net/tun: %s%s", strerror(-rc),
		       rc == -ENOENT ? " (no TUN/TAP support: load the tun module)" : "");
		return rc;
	}
	rc = attach(t, cfg->tap);
	if (rc < 0)
		return rc;
	/* virtio 1.x headers: 12 bytes (num_buffers included), little-endian. */
	if ((rc = tap_ioctl(t, TUNSETVNETHDRSZ, "TUNSETVNETHDRSZ", &hdr)) < 0 ||
	    (rc = tap_ioctl(t, TUNSETVNETLE, "TUNSETVNETLE", &le)) < 0)
		return rc;
	/* Offload is offered to the guest only if the TAP takes all of it; off until DRIVER_OK. */
	t->offload = ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)NET_TUN_OFFLOADS) == 0;
	rc = tap_set_offloads(t, 0);
	if (rc < 0)
		return rc;
	rc = tap_nl_setup(t, cfg);
	if (rc < 0)
		return rc;
	pr_debug("net: TAP %s (index %d, %s), offload %s", t->name, t->ifindex,
		 t->created ? "created" : "existing", t->offload ? "on" : "not supported");
	return 0;
}

void tap_close(struct tap *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}
