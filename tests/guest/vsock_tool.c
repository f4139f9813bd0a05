/*
 * Guest-side vsock test helper (static aarch64, in the ext4 rootfs as
 * /bin/vsock_tool): AF_VSOCK streams with checked payloads, run by the engine
 * in tests/common/vsock_xfer.h (its header comment has the wire format, the
 * group syntax and the output lines).
 *
 * usage: vsock_tool [-t SECONDS] [listen|connect] GROUP...
 *   listen GROUP    accept GROUP's n streams on vsock port P (any CID)
 *   connect GROUP   open n streams to CID cid (2, the host) port P
 * e.g. vsock_tool listen port=5000,n=64
 *      vsock_tool connect port=6000,n=1,send=8M,reply=8M,seed=1 port=6999,refused
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/vm_sockets.h>

#include "tests/common/vsock_xfer.h"

/* Under nested emulation a busy VMM can take longer than Linux's 2 s default. */
#define CONNECT_TIMEOUT_S 30

static int vt_connect(void *ctx, const struct xf_group *g, bool *line)
{
	struct sockaddr_vm addr = {
	    .svm_family = AF_VSOCK, .svm_cid = (unsigned int)g->cid, .svm_port = g->port};
	struct timeval tv = {.tv_sec = CONNECT_TIMEOUT_S};
	int fd, rc;

	*line = false;
	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv)) < 0)
		fprintf(stderr, "vsock_tool: SO_VM_SOCKETS_CONNECT_TIMEOUT: %s\n", strerror(errno));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static int vt_listen(void *ctx, uint32_t port)
{
	struct sockaddr_vm addr = {
	    .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
	int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 256) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static void vt_unlisten(void *ctx, uint32_t port, int fd)
{
	close(fd);
}

static const struct xf_ops vt_ops = {
    .connect = vt_connect,
    .listen = vt_listen,
    .unlisten = vt_unlisten,
};

static struct xfer xf;

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fprintf(stderr, "usage: vsock_tool [-t SECONDS] [listen|connect] GROUP...\n"
				"  GROUP: port=P[,n=N][,send=SIZE][,reply=SIZE][,seed=S][,cid=C]"
				"[,refused|stall|after|close|hold|release]\n");
		return 2;
	}
	xf.ops = &vt_ops;
	if (xf_parse(&xf, argc - 1, argv + 1) < 0)
		return 2;
	return xf_run(&xf);
}
