/*
 * Guest-side test helper (static aarch64, in the ext4 rootfs as /bin/blk_ioctl):
 * BLKZEROOUT and BLKDISCARD on a block device, which the guest kernel turns
 * into virtio-blk WRITE_ZEROES and DISCARD requests.
 *
 * usage: blk_ioctl zeroout|discard DEVICE OFFSET LENGTH   (bytes, multiples of 512)
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	uint64_t range[2];
	unsigned long req;
	int fd;

	if (argc != 5 || (strcmp(argv[1], "zeroout") && strcmp(argv[1], "discard"))) {
		fprintf(stderr, "usage: blk_ioctl zeroout|discard DEVICE OFFSET LENGTH\n");
		return 2;
	}
	req = !strcmp(argv[1], "zeroout") ? BLKZEROOUT : BLKDISCARD;
	range[0] = strtoull(argv[3], NULL, 0);
	range[1] = strtoull(argv[4], NULL, 0);
	fd = open(argv[2], O_RDWR);
	if (fd < 0 || ioctl(fd, req, range) < 0) {
		fprintf(stderr, "blk_ioctl: %s %s: %s\n", argv[1], argv[2], strerror(errno));
		return 1;
	}
	if (fsync(fd) < 0) {
		fprintf(stderr, "blk_ioctl: fsync %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}
