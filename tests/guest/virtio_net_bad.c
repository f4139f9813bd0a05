/*
 * Guest-side test helper (static aarch64, in the ext4 rootfs as /bin/virtio_net_bad):
 * drives a virtio-net device by hand through /dev/mem, with its Linux driver
 * unbound, and hands it malformed RX and TX chains: each must put the device
 * in DEVICE_NEEDS_RESET with a configuration-change interrupt and never be
 * returned as used. Two controls must be served without a reset: a
 * well-formed frame, and one whose header asks for a checksum offload that
 * was not negotiated (the device drops it and returns the chain). And a
 * receive buffer with room for the header only must stay unused for 3 s
 * while the host sends frames (the device drops what does not fit; the test
 * makes the host send ARP requests meanwhile).
 *
 * usage: virtio_net_bad BASE    (BASE: the MMIO window, hex)
 * One line per case, "NETBAD <case> PASS|FAIL <detail>", then
 * "NETBAD-DONE ran=N failed=N". Exit status 0 when every case passed.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum {
	REG_MAGIC = 0x000,
	REG_VERSION = 0x004,
	REG_DEVICE_ID = 0x008,
	REG_DEVICE_FEATURES = 0x010,
	REG_DEVICE_FEATURES_SEL = 0x014,
	REG_DRIVER_FEATURES = 0x020,
	REG_DRIVER_FEATURES_SEL = 0x024,
	REG_QUEUE_SEL = 0x030,
	REG_QUEUE_NUM_MAX = 0x034,
	REG_QUEUE_NUM = 0x038,
	REG_QUEUE_READY = 0x044,
	REG_QUEUE_NOTIFY = 0x050,
	REG_INTERRUPT_STATUS = 0x060,
	REG_INTERRUPT_ACK = 0x064,
	REG_STATUS = 0x070,
	REG_QUEUE_DESC_LOW = 0x080,
	REG_QUEUE_DRIVER_LOW = 0x090,
	REG_QUEUE_DEVICE_LOW = 0x0a0,
};

#define S_ACK         1
#define S_DRIVER      2
#define S_DRIVER_OK   4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 64

#define D_NEXT  1
#define D_WRITE 2
#define QSIZE   8
#define PAGE    4096
#define RXQ     0
#define TXQ     1

/* Pages: 0 rings, 1 packet buffer. */
#define RING_DESC  0x000
#define RING_AVAIL 0x400
#define RING_USED  0x800

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static volatile uint8_t *mmio;
static uint8_t *mem;
static uint64_t phys[2];

static uint32_t rd(unsigned int off)
{
	uint32_t v;

	/* A plain LDR/STR: KVM can only emulate MMIO accesses with a valid syndrome. */
	__asm__ volatile("ldr %w0, [%1]" : "=r"(v) : "r"(mmio + off) : "memory");
	return v;
}

static void wr(unsigned int off, uint32_t v)
{
	__asm__ volatile("dsb sy\n\tstr %w0, [%1]" : : "r"(v), "r"(mmio + off) : "memory");
}

static void wr64(unsigned int lo, uint64_t v)
{
	wr(lo, (uint32_t)v);
	wr(lo + 4, (uint32_t)(v >> 32));
}

static int map_all(uint64_t base)
{
	int fd = open("/proc/self/pagemap", O_RDONLY), mfd;
	void *p;

	mem = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED || fd < 0) {
		perror("virtio_net_bad: mmap/pagemap");
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		uint64_t e;

		if (pread(fd, &e, 8, (off_t)((uintptr_t)(mem + i * PAGE) / PAGE * 8)) != 8 ||
		    !(e >> 63) || !(e & ((1ull << 55) - 1))) {
			fprintf(stderr, "virtio_net_bad: no PFN for page %d (root needed)\n", i);
			return -1;
		}
		phys[i] = (e & ((1ull << 55) - 1)) * PAGE;
	}
	close(fd);
	mfd = open("/dev/mem", O_RDWR | O_SYNC);
	if (mfd < 0) {
		perror("virtio_net_bad: /dev/mem");
		return -1;
	}
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, (off_t)base);
	close(mfd);
	if (p == MAP_FAILED) {
		perror("virtio_net_bad: mmap /dev/mem");
		return -1;
	}
	mmio = p;
	return 0;
}

static struct desc *descs(void)
{
	return (struct desc *)(void *)(mem + RING_DESC);
}

static volatile uint16_t *avail(void)
{
	return (volatile uint16_t *)(void *)(mem + RING_AVAIL);
}

static volatile uint16_t *used(void)
{
	return (volatile uint16_t *)(void *)(mem + RING_USED);
}

static uint64_t buf_pa(unsigned int off)
{
	return phys[1] + off;
}

/* Reset; negotiate VERSION_1 only; queue q on our rings (the other one stays off). */
static const char *setup(unsigned int q)
{
	wr(REG_STATUS, 0);
	if (rd(REG_STATUS) != 0)
		return "status did not read 0 after reset";
	if (rd(REG_MAGIC) != 0x74726976 || rd(REG_VERSION) != 2 || rd(REG_DEVICE_ID) != 1)
		return "not a virtio-mmio v2 network device";
	memset(mem, 0, 2 * PAGE);
	wr(REG_STATUS, S_ACK);
	wr(REG_STATUS, S_ACK | S_DRIVER);
	wr(REG_DEVICE_FEATURES_SEL, 1);
	if (!(rd(REG_DEVICE_FEATURES) & 1))
		return "no VERSION_1";
	wr(REG_DRIVER_FEATURES_SEL, 0);
	wr(REG_DRIVER_FEATURES, 0);
	wr(REG_DRIVER_FEATURES_SEL, 1);
	wr(REG_DRIVER_FEATURES, 1);
	wr(REG_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(REG_STATUS) & S_FEATURES_OK))
		return "FEATURES_OK refused";
	wr(REG_QUEUE_SEL, q);
	if (rd(REG_QUEUE_NUM_MAX) < QSIZE)
		return "queue too small";
	wr(REG_QUEUE_NUM, QSIZE);
	wr64(REG_QUEUE_DESC_LOW, phys[0] + RING_DESC);
	wr64(REG_QUEUE_DRIVER_LOW, phys[0] + RING_AVAIL);
	wr64(REG_QUEUE_DEVICE_LOW, phys[0] + RING_USED);
	wr(REG_QUEUE_READY, 1);
	wr(REG_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return NULL;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Publish chain 0 on queue q, notify, wait up to 3 s for a used entry or NEEDS_RESET. */
static void kick_and_wait(unsigned int q)
{
	struct timespec t0;

	avail()[2] = 0;
	__asm__ volatile("dsb sy" ::: "memory");
	avail()[1] = 1;
	wr(REG_QUEUE_NOTIFY, q);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < 3000 && !used()[1] && !(rd(REG_STATUS) & S_NEEDS_RESET))
		usleep(1000);
	usleep(20000); /* let a late interrupt status land */
}

/* A 12-byte virtio-net header (flags first) and a 60-byte broadcast frame, in page 1. */
static void frame(uint8_t hdr_flags)
{
	uint8_t *b = mem + PAGE;

	memset(b, 0, 12 + 60);
	b[0] = hdr_flags;
	memset(b + 12, 0xff, 6);                     /* to: broadcast */
	memcpy(b + 18, "\x02\x00\x00\x00\x00\x99", 6); /* from */
	b[24] = 0x88;                                 /* EtherType 0x88b5: local experimental */
	b[25] = 0xb5;
	memcpy(b + 26, "torpor virtio_net_bad", 21);
}

enum expect {
	RESET,  /* NEEDS_RESET, a configuration-change interrupt, nothing used */
	USED,   /* the chain used, no reset */
	UNUSED, /* neither used nor a reset */
};

struct bad_case {
	const char *name;
	unsigned int queue;
	enum expect expect;
	void (*build)(void);
};

static void tx_writable(void)
{
	frame(0);
	descs()[0] = (struct desc){ buf_pa(0), 12, D_NEXT, 1 };
	descs()[1] = (struct desc){ buf_pa(12), 60, D_WRITE, 0 };
}

static void tx_short(void)
{
	frame(0);
	descs()[0] = (struct desc){ buf_pa(0), 8, 0, 0 };
}

static void tx_outside(void)
{
	frame(0);
	descs()[0] = (struct desc){ buf_pa(0), 12, D_NEXT, 1 };
	descs()[1] = (struct desc){ 0x1000, 60, 0, 0 }; /* below RAM */
}

static void rx_readable(void)
{
	descs()[0] = (struct desc){ buf_pa(0), 1526, 0, 0 };
}

static void rx_short(void)
{
	descs()[0] = (struct desc){ buf_pa(0), 8, D_WRITE, 0 };
}

static void rx_readable_after(void)
{
	descs()[0] = (struct desc){ buf_pa(0), 12, D_WRITE | D_NEXT, 1 };
	descs()[1] = (struct desc){ buf_pa(12), 1514, 0, 0 };
}

static void rx_header_only(void)
{
	descs()[0] = (struct desc){ buf_pa(0), 12, D_WRITE, 0 };
}

static void tx_good(void)
{
	frame(0);
	descs()[0] = (struct desc){ buf_pa(0), 12 + 60, 0, 0 };
}

static void tx_csum_not_negotiated(void)
{
	frame(1); /* VIRTIO_NET_HDR_F_NEEDS_CSUM without VIRTIO_NET_F_CSUM */
	descs()[0] = (struct desc){ buf_pa(0), 12 + 60, 0, 0 };
}

static const struct bad_case cases[] = {
	{ "tx-writable", TXQ, RESET, tx_writable },
	{ "tx-short-header", TXQ, RESET, tx_short },
	{ "tx-outside-ram", TXQ, RESET, tx_outside },
	{ "rx-readable", RXQ, RESET, rx_readable },
	{ "rx-short-header", RXQ, RESET, rx_short },
	{ "rx-readable-after-writable", RXQ, RESET, rx_readable_after },
	{ "good-tx-frame", TXQ, USED, tx_good },
	{ "good-tx-offload-not-negotiated", TXQ, USED, tx_csum_not_negotiated },
	{ "good-rx-header-only-buffer", RXQ, UNUSED, rx_header_only },
};

static bool run_case(const struct bad_case *c)
{
	const char *why = setup(c->queue);
	uint32_t st, isr, used_len = 0;

	if (why) {
		printf("NETBAD %s FAIL setup: %s\n", c->name, why);
		return false;
	}
	c->build();
	kick_and_wait(c->queue);
	st = rd(REG_STATUS);
	isr = rd(REG_INTERRUPT_STATUS);
	if (c->expect == RESET && (!(st & S_NEEDS_RESET) || !(isr & 2) || used()[1])) {
		memcpy(&used_len, (const uint8_t *)used() + 8, 4);
		printf("NETBAD %s FAIL status 0x%x interrupt 0x%x used %u (len %u): expected "
		       "NEEDS_RESET, a configuration-change interrupt and nothing used\n", c->name,
		       st, isr, used()[1], used_len);
		return false;
	}
	if (c->expect == USED && ((st & S_NEEDS_RESET) || used()[1] != 1)) {
		printf("NETBAD %s FAIL status 0x%x used %u: expected the chain used, no reset\n",
		       c->name, st, used()[1]);
		return false;
	}
	if (c->expect == UNUSED && ((st & S_NEEDS_RESET) || used()[1])) {
		memcpy(&used_len, (const uint8_t *)used() + 8, 4);
		printf("NETBAD %s FAIL status 0x%x used %u (len %u): expected neither a reset nor "
		       "a used buffer\n", c->name, st, used()[1], used_len);
		return false;
	}
	if (used()[1]) /* the length the device wrote: 0 for TX */
		memcpy(&used_len, (const uint8_t *)used() + 8, 4);
	wr(REG_INTERRUPT_ACK, isr);
	wr(REG_STATUS, 0);
	if (rd(REG_STATUS) != 0) {
		printf("NETBAD %s FAIL reset did not clear the status\n", c->name);
		return false;
	}
	printf("NETBAD %s PASS status=0x%x interrupt=0x%x used=%u len=%u\n", c->name, st, isr,
	       used()[1], used_len);
	return true;
}

int main(int argc, char **argv)
{
	unsigned int failed = 0, ran = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: virtio_net_bad BASE\n");
		return 2;
	}
	if (map_all(strtoull(argv[1], NULL, 16)) < 0)
		return 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ran++;
		failed += !run_case(&cases[i]);
		fflush(stdout);
	}
	printf("NETBAD-DONE ran=%u failed=%u\n", ran, failed);
	return failed ? 1 : 0;
}
