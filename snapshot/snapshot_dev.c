/* Device sections: each device saves and restores itself; this only keeps the order and ids. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "devices/blk/blk.h"
#include "devices/net/net.h"
#include "devices/uart/uart.h"
#include "devices/vsock/vsock.h"
#include "snapshot/snap_int.h"
#include "vm.h"

static int add(struct snap_writer *w, uint32_t id, uint32_t inst, uint32_t ver, int rc,
	       struct snap_buf *b, char *err, size_t errlen)
{
	char label[32];

	if (rc == 0)
		rc = snap_buf_error(b);
	if (rc < 0)
		rc = snap_errf(err, errlen, rc, "saving %s failed: %s",
			       snap_section_label(id, inst, label, sizeof(label)), strerror(-rc));
	else
		rc = snap_writer_add(w, id, inst, ver, b->data, b->len, err, errlen);
	snap_buf_free(b);
	return rc;
}

int snap_devices_save(struct vm *vm, struct snap_writer *w, char *err, size_t errlen)
{
	struct snap_buf b;
	int rc = 0;

	/* Disks first: their save drains in-flight requests, which land in RAM. */
	for (unsigned int i = 0; i < vm->cfg->nr_disks && !rc; i++) {
		snap_buf_init(&b);
		rc = add(w, SNAP_SEC_BLK, i, BLK_SNAP_VERSION, blk_save(vm->blks[i], &b), &b, err, errlen);
	}
	if (!rc && vm->net) {
		snap_buf_init(&b);
		rc = add(w, SNAP_SEC_NET, 0, NET_SNAP_VERSION, net_save(vm->net, &b), &b, err, errlen);
	}
	if (!rc && vm->vsock) {
		snap_buf_init(&b);
		rc = add(w, SNAP_SEC_VSOCK, 0, VSOCK_SNAP_VERSION, vsock_save(vm->vsock, &b), &b, err, errlen);
	}
	if (!rc) {
		snap_buf_init(&b);
		rc = add(w, SNAP_SEC_UART, 0, UART_SNAP_VERSION, uart_save(vm->uart, &b), &b, err, errlen);
	}
	return rc;
}

static int want(const struct snap_state *s, uint32_t id, uint32_t n, const char *what,
		char *err, size_t errlen)
{
	uint32_t have = snap_state_count(s, id);

	if (have == n)
		return 0;
	return snap_errf(err, errlen, -EINVAL,
			 "the snapshot has %u %s section%s but its config has %u %s", have,
			 snap_section_name(id), have == 1 ? "" : "s", n, what);
}

/* The section's payload version is one this build reads. */
static const struct snap_section *sec_of(const struct snap_state *s, uint32_t id, uint32_t inst,
					 uint32_t ver, char *err, size_t errlen)
{
	const struct snap_section *sec = snap_state_find(s, id, inst);
	char label[32];

	if (sec && sec->version == ver)
		return sec;
	snap_section_label(id, inst, label, sizeof(label));
	if (sec)
		snap_errf(err, errlen, -EINVAL, "section %s: version %u, this build reads %u", label,
			  sec->version, ver);
	else
		snap_errf(err, errlen, -EINVAL, "no section %s", label);
	return NULL;
}

int snap_devices_check(const struct snap_state *s, const struct vm_config *cfg, char *err,
		       size_t errlen)
{
	int rc;

	if ((rc = want(s, SNAP_SEC_BLK, cfg->nr_disks, "disks", err, errlen)) < 0 ||
	    (rc = want(s, SNAP_SEC_NET, cfg->net.tap ? 1 : 0, "net devices", err, errlen)) < 0 ||
	    (rc = want(s, SNAP_SEC_VSOCK, cfg->vsock.uds ? 1 : 0, "vsock devices", err,
		       errlen)) < 0 ||
	    (rc = want(s, SNAP_SEC_UART, 1, "UARTs", err, errlen)) < 0)
		return rc;
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if (!sec_of(s, SNAP_SEC_BLK, i, BLK_SNAP_VERSION, err, errlen))
			return -EINVAL;
	if ((cfg->net.tap && !sec_of(s, SNAP_SEC_NET, 0, NET_SNAP_VERSION, err, errlen)) ||
	    (cfg->vsock.uds && !sec_of(s, SNAP_SEC_VSOCK, 0, VSOCK_SNAP_VERSION, err, errlen)) ||
	    !sec_of(s, SNAP_SEC_UART, 0, UART_SNAP_VERSION, err, errlen))
		return -EINVAL;
	return 0;
}

static int one(const struct snap_state *s, uint32_t id, uint32_t inst, int rc, char *err,
	       size_t errlen)
{
	char label[32], msg[256];

	if (rc >= 0)
		return 0;
	snprintf(msg, sizeof(msg), "%s", err && *err ? err : strerror(-rc));
	return snap_errf(err, errlen, rc, "restoring %s: %s",
			 snap_section_label(id, inst, label, sizeof(label)), msg);
}

int snap_devices_restore(struct vm *vm, const struct snap_state *s, char *err, size_t errlen)
{
	const struct snap_section *sec;
	int rc = 0;

	if (err && errlen)
		*err = 0;
	for (unsigned int i = 0; i < vm->cfg->nr_disks && !rc; i++) {
		sec = sec_of(s, SNAP_SEC_BLK, i, BLK_SNAP_VERSION, err, errlen);
		if (!sec)
			return -EINVAL;
		rc = one(s, SNAP_SEC_BLK, i,
			 blk_restore(vm->blks[i], sec->data, sec->len, err, errlen), err, errlen);
	}
	if (!rc && vm->net) {
		sec = sec_of(s, SNAP_SEC_NET, 0, NET_SNAP_VERSION, err, errlen);
		if (!sec)
			return -EINVAL;
		rc = one(s, SNAP_SEC_NET, 0, net_restore(vm->net, sec->data, sec->len, err, errlen),
			 err, errlen);
	}
	if (!rc && vm->vsock) {
		sec = sec_of(s, SNAP_SEC_VSOCK, 0, VSOCK_SNAP_VERSION, err, errlen);
		if (!sec)
			return -EINVAL;
		rc = one(s, SNAP_SEC_VSOCK, 0,
			 vsock_restore(vm->vsock, sec->data, sec->len, err, errlen), err, errlen);
	}
	if (!rc) {
		sec = sec_of(s, SNAP_SEC_UART, 0, UART_SNAP_VERSION, err, errlen);
		if (!sec)
			return -EINVAL;
		rc = one(s, SNAP_SEC_UART, 0, uart_restore(vm->uart, sec->data, sec->len, err, errlen),
			 err, errlen);
	}
	return rc;
}
