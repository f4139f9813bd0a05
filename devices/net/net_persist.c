/* virtio-net snapshot state: the guest's MAC and the transport; the TAP is the config's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "devices/net/net.h"
#include "devices/net/net_priv.h"
#include "log.h"
#include "snapshot/buf.h"

static void fmt_mac(const uint8_t mac[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

int net_save(struct net *n, struct snap_buf *out)
{
	unsigned int held[2] = {0};
	int rc;

	pthread_mutex_lock(&n->vdev.lock);
	/* Chains popped but not answered: the last ones popped from their queues. */
	held[NET_VQ_RX] = n->rx_have;
	held[NET_VQ_TX] = n->tx_blocked;
	snap_put_u32(out, NET_SNAP_VERSION);
	snap_put_bytes(out, n->config.mac, sizeof(n->config.mac));
	rc = virtio_dev_save_held(&n->vdev, out, held);
	pthread_mutex_unlock(&n->vdev.lock);
	if (rc < 0)
		pr_err("net: snapshot: %s", strerror(-rc));
	return rc;
}

int net_restore(struct net *n, const void *data, size_t len, char *err, size_t errlen)
{
	static const uint8_t zero[6];
	struct snap_buf in;
	uint8_t mac[6];
	uint32_t version;
	char why[256], m1[18], m2[18];
	int rc;

	snap_buf_view(&in, data, len);
	version = snap_get_u32(&in);
	if (!snap_buf_error(&in) && version != NET_SNAP_VERSION)
		return snap_errf(err, errlen, -EINVAL,
				 "net: state version %u is not supported (this build reads %u)",
				 version, NET_SNAP_VERSION);
	snap_get_bytes(&in, mac, sizeof(mac));
	if (snap_buf_error(&in))
		return snap_errf(err, errlen, -EINVAL, "net: state is truncated");
	fmt_mac(mac, m1);
	if ((mac[0] & 1) || !memcmp(mac, zero, 6))
		return snap_errf(err, errlen, -EINVAL, "net: saved MAC %s is not a unicast address",
				 m1);
	pthread_mutex_lock(&n->vdev.lock);
	rc = virtio_dev_restore(&n->vdev, &in, why, sizeof(why));
	if (!rc && !n->mac_from_config)
		memcpy(n->config.mac, mac, sizeof(mac));
	pthread_mutex_unlock(&n->vdev.lock);
	if (rc < 0)
		return snap_errf(err, errlen, rc, "net: %s", why);
	if (memcmp(n->config.mac, mac, sizeof(mac))) {
		fmt_mac(n->config.mac, m2);
		pr_warn("net: the config's MAC %s differs from the snapshot's %s: the guest keeps "
			"using %s until its driver probes the device again",
			m2, m1, m1);
	}
	return 0;
}
