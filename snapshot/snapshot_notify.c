/* After a restored VM first runs: vsock TRANSPORT_RESET, then the agent's `restored` op. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "config.h"
#include "devices/vsock/vsock.h"
#include "log.h"
#include "snapshot/snap_int.h"
#include "snapshot/snapshot.h"
#include "tools/torpor/agent_client.h"
#include "vm.h"

#define NOTIFY_TIMEOUT_MS 10000 /* to reach the agent and hear its answer */
#define NOTIFY_ATTEMPT_MS 1000  /* one CONNECT's wait for the agent's OK */
#define ENTROPY_BYTES	  64

static void b64(const uint8_t *in, size_t n, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < n ? in[i + 2] : 0);

		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = 0;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * Connect, retrying while the guest has no listener yet (it may be resetting
 * its transport). Each attempt is short: a guest that has not yet handled the
 * TRANSPORT_RESET answers from its old CID when the CID changed, the device
 * drops that answer, and only a fresh CONNECT after the reset succeeds.
 */
static int connect_agent(const char *uds, const struct timespec *t0, struct agent_conn **c,
			 char *err, size_t errlen)
{
	for (;;) {
		long left = NOTIFY_TIMEOUT_MS - ms_since(t0);
		int rc;

		if (left <= 0)
			return -ETIMEDOUT;
		rc = agent_connect(uds, (int)(left < NOTIFY_ATTEMPT_MS ? left : NOTIFY_ATTEMPT_MS), c,
				   err, errlen);
		if (rc != -ECONNRESET && rc != -EAGAIN && rc != -ETIMEDOUT)
			return rc;
		nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000000L }, NULL);
	}
}

/* One attempt: connect and send `restored` with fresh entropy and the host's time now. */
static int tell_once(const char *uds, const struct timespec *t0, char *err, size_t errlen)
{
	uint8_t rnd[ENTROPY_BYTES];
	char ent[ENTROPY_BYTES * 2];
	struct agent_conn *c = NULL;
	struct timespec now;
	json_t *req;
	int rc;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return snap_errf(err, errlen, -EIO, "getrandom: %s", strerror(errno));
	b64(rnd, sizeof(rnd), ent);
	rc = connect_agent(uds, t0, &c, err, errlen);
	if (rc < 0)
		return rc;
	clock_gettime(CLOCK_REALTIME, &now);
	req = json_pack("{s:s, s:s, s:I}", "op", "restored", "entropy", ent, "time_ns",
			(json_int_t)now.tv_sec * 1000000000 + now.tv_nsec);
	if (!req) {
		agent_conn_close(c);
		return snap_errf(err, errlen, -ENOMEM, "out of memory");
	}
	/* The app's restored hook may take up to 30 s. */
	rc = agent_request(c, req, NOTIFY_TIMEOUT_MS + 30000, NULL, err, errlen);
	json_decref(req);
	agent_conn_close(c);
	return rc;
}

/*
 * The guest handles the TRANSPORT_RESET asynchronously: a connection made
 * just before it may be dropped by it. Such losses are retried.
 */
static int tell_agent(const char *uds, char *err, size_t errlen)
{
	struct timespec t0;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		rc = tell_once(uds, &t0, err, errlen);
		if ((rc != -ECONNRESET && rc != -ECONNABORTED && rc != -EPIPE) ||
		    ms_since(&t0) >= NOTIFY_TIMEOUT_MS)
			return rc;
		nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000000L }, NULL);
	}
}

static void *notify_thread(void *arg)
{
	char *uds = arg, err[256] = "";
	struct timespec t0;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = tell_agent(uds, err, sizeof(err));
	if (rc < 0)
		pr_warn("restore: the guest agent was not told (entropy, clock): %s",
			*err ? err : strerror(-rc));
	else
		pr_info("restore: guest agent told: fresh entropy and the host's time (%ld ms)",
			ms_since(&t0));
	free(uds);
	return NULL;
}

void snapshot_after_restore_run(struct vm *vm)
{
	struct snap_vm *sv = vm->snap;
	pthread_attr_t attr;
	pthread_t t;
	char *uds;

	if (!sv || !sv->restored)
		return;
	sv->restored = false;
	if (!vm->vsock) {
		pr_warn("restore: no vsock device: the guest agent cannot be told to refresh its "
			"entropy and clock");
		return;
	}
	vsock_transport_reset(vm->vsock);
	uds = strdup(vm->cfg->vsock.uds);
	if (!uds)
		return;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, notify_thread, uds)) {
		pr_warn("restore: cannot start the agent notifier thread");
		free(uds);
	}
	pthread_attr_destroy(&attr);
}
