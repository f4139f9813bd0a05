/*
 * blkbench: sequential write, sequential read and 4 KiB random-read speed of
 * one file or block device, for `make bench` (bench/part-blk.sh). The same
 * source is built twice, both static aarch64: as /bin/blkbench in the guest's
 * ext4 root (tests/guest/) and as build/aarch64/torpor-bench-blk for the
 * machine that runs the VMM, so both sides measure with the same code.
 *
 * usage: blkbench [--size MIB] [--bs KIB] [--rand-seconds S] [--rand-max N]
 *                 [--buffered] [--create] FILE|DEVICE
 *
 * 1. Sequential write of SIZE (default 256 MiB, or the device's size if
 *    smaller) in BS requests (default 1 MiB) from offset 0, then fdatasync;
 *    the time includes the fdatasync.
 * 2. Sequential read of the same range, BS requests.
 * 3. 4 KiB reads at random 4 KiB-aligned offsets in that range, one at a
 *    time (queue depth 1), for S seconds (default 5) or N reads, whichever
 *    comes first.
 *
 * I/O is O_DIRECT (the page cache serves nothing) unless --buffered is given
 * or the file system refuses O_DIRECT (tmpfs does: EINVAL); then it is
 * buffered, and after the write the file's cached pages are dropped with
 * posix_fadvise(DONTNEED) where the file system can (not tmpfs: it lives in
 * the page cache). The output says which.
 *
 * Output, one figure a line (parsed by bench/part-blk.sh):
 *   BLKBENCH io O_DIRECT|buffered (REASON)
 *   BLKBENCH seq_write_MBps X bytes=N seconds=T
 *   BLKBENCH seq_read_MBps X bytes=N seconds=T
 *   BLKBENCH rand_read_iops X reads=N seconds=T
 * MB is 10^6 bytes. Exit status 0, or 1 on an I/O error, 2 on a usage error.
 *
 * WARNING: it overwrites the first SIZE bytes of FILE|DEVICE.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RAND_BS 4096u

struct opts {
	const char *path;
	uint64_t size;
	size_t bs;
	double rand_seconds;
	unsigned long rand_max;
	int buffered, create;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: a fixed sequence of offsets, the same on every run. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: blkbench [--size MIB] [--bs KIB] [--rand-seconds S] [--rand-max N]\n"
		   "                [--buffered] [--create] FILE|DEVICE\n"
		   "Overwrites the first MIB MiB of FILE|DEVICE.\n");
}

static int parse(struct opts *o, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--buffered")) {
			o->buffered = 1;
			continue;
		} else if (!strcmp(a, "--create")) {
			o->create = 1;
			continue;
		} else if (a[0] != '-') {
			if (o->path)
				return -1;
			o->path = a;
			continue;
		}
		if (!v)
			return -1;
		errno = 0;
		if (!strcmp(a, "--size"))
			o->size = strtoull(v, &end, 10) << 20;
		else if (!strcmp(a, "--bs"))
			o->bs = (size_t)strtoul(v, &end, 10) << 10;
		else if (!strcmp(a, "--rand-seconds"))
			o->rand_seconds = strtod(v, &end);
		else if (!strcmp(a, "--rand-max"))
			o->rand_max = strtoul(v, &end, 10);
		else
			return -1;
		if (errno || end == v || *end)
			return -1;
		i++;
	}
	if (!o->path || !o->size || !o->bs || o->bs % RAND_BS || o->bs > (64u << 20) ||
	    o->rand_seconds <= 0)
		return -1;
	return 0;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "blkbench: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

/* Full-length pwrite/pread of len bytes at off (short transfers continued). */
static void xfer(int fd, int wr, char *buf, size_t len, uint64_t off, const char *path)
{
	while (len) {
		ssize_t n = wr ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			die(wr ? "write" : "read", path);
		}
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
}

int main(int argc, char **argv)
{
	struct opts o = { .size = 256ull << 20, .bs = 1u << 20, .rand_seconds = 5 };
	int flags, fd, direct;
	const char *why = "";
	struct stat st;
	uint64_t off, seed = 0x746f72706f72ull, nblocks;
	unsigned long reads = 0;
	double t0, t;
	char *buf;

	if (parse(&o, argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	flags = O_RDWR | (o.create ? O_CREAT : 0);
	direct = !o.buffered;
	fd = direct ? open(o.path, flags | O_DIRECT, 0600) : -1;
	if (direct && fd < 0) {
		if (errno != EINVAL)
			die("open", o.path);
		direct = 0;
		why = " (O_DIRECT refused by the file system: EINVAL)";
	} else if (!direct) {
		why = " (--buffered)";
	}
	if (fd < 0 && (fd = open(o.path, flags, 0600)) < 0)
		die("open", o.path);
	if (fstat(fd, &st) < 0)
		die("stat", o.path);
	if (S_ISBLK(st.st_mode)) {
		uint64_t dev_size;

		if (ioctl(fd, BLKGETSIZE64, &dev_size) < 0)
			die("BLKGETSIZE64", o.path);
		if (dev_size < o.size)
			o.size = dev_size;
	}
	o.size -= o.size % o.bs;
	if (o.size < o.bs) {
		fprintf(stderr, "blkbench: %s: smaller than one %zu-byte request\n", o.path, o.bs);
		return 1;
	}
	if (posix_memalign((void **)&buf, 4096, o.bs)) {
		fprintf(stderr, "blkbench: out of memory\n");
		return 1;
	}
	/* Data that is neither zero nor repetitive, so nothing can shortcut it. */
	for (size_t i = 0; i < o.bs; i += 8) {
		uint64_t r = rng_next(&seed);

		memcpy(buf + i, &r, 8);
	}
	printf("BLKBENCH io %s%s\n", direct ? "O_DIRECT" : "buffered", why);
	fflush(stdout);

	t0 = now_s();
	for (off = 0; off < o.size; off += o.bs) {
		buf[0] = (char)(off >> 20); /* each request's data differs */
		xfer(fd, 1, buf, o.bs, off, o.path);
	}
	if (fdatasync(fd) < 0)
		die("fdatasync", o.path);
	t = now_s() - t0;
	printf("BLKBENCH seq_write_MBps %.1f bytes=%llu seconds=%.3f\n", (double)o.size / t / 1e6,
	       (unsigned long long)o.size, t);
	fflush(stdout);
	if (!direct)
		posix_fadvise(fd, 0, (off_t)o.size, POSIX_FADV_DONTNEED);

	t0 = now_s();
	for (off = 0; off < o.size; off += o.bs)
		xfer(fd, 0, buf, o.bs, off, o.path);
	t = now_s() - t0;
	printf("BLKBENCH seq_read_MBps %.1f bytes=%llu seconds=%.3f\n", (double)o.size / t / 1e6,
	       (unsigned long long)o.size, t);
	fflush(stdout);
	if (!direct)
		posix_fadvise(fd, 0, (off_t)o.size, POSIX_FADV_DONTNEED);

	nblocks = o.size / RAND_BS;
	t0 = now_s();
	t = 0;
	while (!o.rand_max || reads < o.rand_max) {
		off = (rng_next(&seed) % nblocks) * RAND_BS;
		xfer(fd, 0, buf, RAND_BS, off, o.path);
		reads++;
		if (reads % 16 == 0 && (t = now_s() - t0) >= o.rand_seconds)
			break;
	}
	t = now_s() - t0;
	printf("BLKBENCH rand_read_iops %.0f reads=%lu seconds=%.3f\n", (double)reads / t, reads, t);
	free(buf);
	close(fd);
	return 0;
}
