/*
 * Guest-side test helper (static aarch64, in the ext4 rootfs as /bin/virtio_bad_chain):
 * drives a virtio-blk device by hand through /dev/mem and hands it malformed
 * descriptor chains, checking that each one puts the device in
 * DEVICE_NEEDS_RESET with a configuration-change interrupt, and that a reset
 * brings it back. The device's Linux driver must be unbound first.
 *
 * usage: virtio_bad_chain BASE CASE...   (BASE: MMIO window, hex; CASE: a name or "all")
 * It also carries well-formed requests Linux never sends (partial-block
 * writes), to exercise those paths of the device.
 * One line per case: "BADCHAIN <case> PASS <detail>" or "BADCHAIN <case> FAIL <why>".
 * Exit status 0 when every case passed.
 */
#include <errno.h>
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
	REG_QUEUE_DESC_HIGH = 0x084,
	REG_QUEUE_DRIVER_LOW = 0x090,
	REG_QUEUE_DRIVER_HIGH = 0x094,
	REG_QUEUE_DEVICE_LOW = 0x0a0,
	REG_QUEUE_DEVICE_HIGH = 0x0a4,
};

#define S_ACK         1
#define S_DRIVER      2
#define S_DRIVER_OK   4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 64

#define F_INDIRECT 28
#define F_VERSION_1 32

#define D_NEXT     1
#define D_WRITE    2
#define D_INDIRECT 4

#define QSIZE  8
#define NPAGES 6
#define PAGE   4096

/* Pages: 0 rings, 1 header + status, 2 data, 3 indirect table, 4 inner table. */
enum { P_RING, P_HDR, P_DATA, P_IND, P_IND2, P_SPARE };
#define RING_DESC  0x000
#define RING_AVAIL 0x400
#define RING_USED  0x800
#define STATUS_OFF 0x100

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static volatile uint8_t *mmio;
static uint8_t *mem;
static uint64_t phys[NPAGES];

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

static uint8_t *page(int p)
{
	return mem + (size_t)p * PAGE;
}

static uint64_t pa(int p, unsigned int off)
{
	return phys[p] + off;
}

static struct desc *ring_desc(void)
{
	return (struct desc *)(void *)(page(P_RING) + RING_DESC);
}

static volatile uint16_t *avail(void)
{
	return (volatile uint16_t *)(void *)(page(P_RING) + RING_AVAIL);
}

static volatile uint16_t *used(void)
{
	return (volatile uint16_t *)(void *)(page(P_RING) + RING_USED);
}

static int map_pages(void)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);

	mem = mmap(NULL, NPAGES * PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED || fd < 0) {
		perror("virtio_bad_chain: mmap/pagemap");
		return -1;
	}
	memset(mem, 0, NPAGES * PAGE);
	for (int i = 0; i < NPAGES; i++) {
		uint64_t e;
		off_t at = (off_t)(((uintptr_t)page(i) / PAGE) * 8);

		if (pread(fd, &e, 8, at) != 8 || !(e >> 63) || !(e & ((1ull << 55) - 1))) {
			fprintf(stderr, "virtio_bad_chain: no PFN for page %d (root needed)\n", i);
			return -1;
		}
		phys[i] = (e & ((1ull << 55) - 1)) * PAGE;
	}
	close(fd);
	return 0;
}

static int map_mmio(uint64_t base)
{
	int fd = open("/dev/mem", O_RDWR | O_SYNC);
	void *p;

	if (fd < 0) {
		perror("virtio_bad_chain: /dev/mem");
		return -1;
	}
	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)base);
	close(fd);
	if (p == MAP_FAILED) {
		perror("virtio_bad_chain: mmap /dev/mem");
		return -1;
	}
	mmio = p;
	return 0;
}

static void set64(unsigned int lo, uint64_t v)
{
	wr(lo, (uint32_t)v);
	wr(lo + 4, (uint32_t)(v >> 32));
}

/* Reset and bring the device up with queue 0 of QSIZE entries. Returns NULL or why not. */
static const char *setup(bool indirect, uint64_t desc_at)
{
	uint32_t hi;

	wr(REG_STATUS, 0);
	if (rd(REG_STATUS) != 0)
		return "status did not read 0 after reset";
	if (rd(REG_MAGIC) != 0x74726976 || rd(REG_VERSION) != 2 || rd(REG_DEVICE_ID) != 2)
		return "not a virtio-mmio v2 block device";
	memset(mem, 0, NPAGES * PAGE);
	wr(REG_STATUS, S_ACK);
	wr(REG_STATUS, S_ACK | S_DRIVER);
	wr(REG_DEVICE_FEATURES_SEL, 1);
	hi = rd(REG_DEVICE_FEATURES);
	wr(REG_DEVICE_FEATURES_SEL, 0);
	if (!(hi & 1) || !(rd(REG_DEVICE_FEATURES) & (1u << F_INDIRECT)))
		return "device does not offer VERSION_1 and INDIRECT_DESC";
	wr(REG_DRIVER_FEATURES_SEL, 0);
	wr(REG_DRIVER_FEATURES, indirect ? 1u << F_INDIRECT : 0);
	wr(REG_DRIVER_FEATURES_SEL, 1);
	wr(REG_DRIVER_FEATURES, 1); /* VERSION_1 */
	wr(REG_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
	if (!(rd(REG_STATUS) & S_FEATURES_OK))
		return "FEATURES_OK refused";
	wr(REG_QUEUE_SEL, 0);
	if (rd(REG_QUEUE_NUM_MAX) < QSIZE)
		return "queue too small";
	wr(REG_QUEUE_NUM, QSIZE);
	set64(REG_QUEUE_DESC_LOW, desc_at ? desc_at : pa(P_RING, RING_DESC));
	set64(REG_QUEUE_DRIVER_LOW, pa(P_RING, RING_AVAIL));
	set64(REG_QUEUE_DEVICE_LOW, pa(P_RING, RING_USED));
	wr(REG_QUEUE_READY, 1);
	wr(REG_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	return NULL;
}

static void header(uint32_t type, uint64_t sector)
{
	uint8_t *h = page(P_HDR);

	memcpy(h, &type, 4);
	memset(h + 4, 0, 4);
	memcpy(h + 8, &sector, 8);
	page(P_HDR)[STATUS_OFF] = 0xff;
}

static struct desc d(uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	return (struct desc){ addr, len, flags, next };
}

#define HDR    pa(P_HDR, 0)
#define STATUS pa(P_HDR, STATUS_OFF)
#define DATA   pa(P_DATA, 0)

/* Publish head (avail index idx) and notify queue 0. */
static void kick(uint16_t head, uint16_t idx)
{
	avail()[2] = head;
	__asm__ volatile("dsb sy" ::: "memory");
	avail()[1] = idx;
	wr(REG_QUEUE_NOTIFY, 0);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Wait up to 3 s for a used entry or NEEDS_RESET. */
static void wait_device(void)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ms_since(&t0) < 3000 && !used()[1] && !(rd(REG_STATUS) & S_NEEDS_RESET))
		usleep(1000);
	usleep(20000); /* let a late interrupt status land */
}

struct bad_case {
	const char *name;
	bool indirect;     /* negotiate INDIRECT_DESC */
	bool ring_outside; /* the descriptor table itself outside RAM */
	void (*build)(uint16_t *head, uint16_t *idx);
	int expect;        /* -1: NEEDS_RESET; otherwise the request's status byte */
};

static void b_get_id(uint16_t *head, uint16_t *idx)
{
	struct desc *t = ring_desc();

	header(8, 0); /* VIRTIO_BLK_T_GET_ID */
	t[0] = d(HDR, 16, D_NEXT, 1);
	t[1] = d(DATA, 20, D_WRITE | D_NEXT, 2);
	t[2] = d(STATUS, 1, D_WRITE, 0);
}

static void b_read_indirect(uint16_t *head, uint16_t *idx)
{
	struct desc *ind = (struct desc *)(void *)page(P_IND);

	header(0, 0); /* VIRTIO_BLK_T_IN, sector 0 */
	ind[0] = d(HDR, 16, D_NEXT, 1);
	ind[1] = d(DATA, 512, D_WRITE | D_NEXT, 2);
	ind[2] = d(STATUS, 1, D_WRITE, 0);
	ring_desc()[0] = d(pa(P_IND, 0), 3 * 16, D_INDIRECT, 0);
}

static void b_ro_write(uint16_t *head, uint16_t *idx)
{
	struct desc *t = ring_desc();

	header(1, 0); /* VIRTIO_BLK_T_OUT */
	memset(page(P_DATA), 0x5a, 512);
	t[0] = d(HDR, 16, D_NEXT, 1);
	t[1] = d(DATA, 512, D_NEXT, 2);
	t[2] = d(STATUS, 1, D_WRITE, 0);
}

static void b_outside_ram(uint16_t *head, uint16_t *idx)
{
	struct desc *t = ring_desc();

	header(0, 0);
	t[0] = d(HDR, 16, D_NEXT, 1);
	t[1] = d(0x1000, 512, D_WRITE | D_NEXT, 2); /* below RAM (0x8000_0000) */
	t[2] = d(STATUS, 1, D_WRITE, 0);
}

static void b_end_of_space(uint16_t *head, uint16_t *idx)
{
	struct desc *t = ring_desc();

	header(0, 0);
	t[0] = d(HDR, 16, D_NEXT, 1);
	t[1] = d(0xfffffffffffff000ull, 0x2000, D_WRITE | D_NEXT, 2); /* wraps around */
	t[2] = d(STATUS, 1, D_WRITE, 0);
}

static void b_loop(uint16_t *head, uint16_t *idx)
{
	struct desc *t = ring_desc();

	header(0, 0);
	t[0] = d(HDR, 16, D_NEXT, 1);
	t[1] = d(DATA, 512, D_WRITE | D_NEXT, 0);
}

static void b_too_long(uint16_t *head, uint16_t *idx)
{
	struct desc *ind = (struct desc *)(void *)page(P_IND);

	header(0, 0);
	ind[0] = d(HDR, 16, D_NEXT, 1);
	for (int i = 1; i < 2 * QSIZE - 1; i++)
		ind[i] = d(DATA + 16 * i, 16, D_WRITE | D_NEXT, (uint16_t)(i + 1));
	ind[2 * QSIZE - 1] = d(STATUS, 1, D_WRITE, 0);
	ring_desc()[0] = d(pa(P_IND, 0), 2 * QSIZE * 16, D_INDIRECT, 0);
}

static void b_wrong_direction(uint16_t *head, uint16_t *idx)
{
	struct desc *t = ring_desc();

	header(1, 0);
	t[0] = d(HDR, 16, D_NEXT, 1);
	t[1] = d(STATUS, 1, D_WRITE | D_NEXT, 2);
	t[2] = d(DATA, 512, 0, 0); /* readable after writable */
}

static void b_zero_length(uint16_t *head, uint16_t *idx)
{
	struct desc *t = ring_desc();

	header(0, 0);
	t[0] = d(HDR, 16, D_NEXT, 1);
	t[1] = d(DATA, 0, D_WRITE | D_NEXT, 2);
	t[2] = d(STATUS, 1, D_WRITE, 0);
}

static void b_nested_indirect(uint16_t *head, uint16_t *idx)
{
	struct desc *ind = (struct desc *)(void *)page(P_IND);
	struct desc *ind2 = (struct desc *)(void *)page(P_IND2);

	header(0, 0);
	ind2[0] = d(DATA, 512, D_WRITE | D_NEXT, 1);
	ind2[1] = d(STATUS, 1, D_WRITE, 0);
	ind[0] = d(HDR, 16, D_NEXT, 1);
	ind[1] = d(pa(P_IND2, 0), 32, D_INDIRECT, 0);
	ring_desc()[0] = d(pa(P_IND, 0), 32, D_INDIRECT, 0);
}

static void b_indirect_len(uint16_t *head, uint16_t *idx)
{
	b_read_indirect(head, idx);
	ring_desc()[0].len = 24; /* not a multiple of 16 */
}

static void b_indirect_unnegotiated(uint16_t *head, uint16_t *idx)
{
	b_read_indirect(head, idx);
}

static void b_indirect_next(uint16_t *head, uint16_t *idx)
{
	b_read_indirect(head, idx);
	ring_desc()[0].flags |= D_NEXT;
	ring_desc()[0].next = 1;
	ring_desc()[1] = d(STATUS, 1, D_WRITE, 0);
}

static void b_head_range(uint16_t *head, uint16_t *idx)
{
	b_get_id(head, idx);
	*head = 100;
}

static void b_next_range(uint16_t *head, uint16_t *idx)
{
	b_get_id(head, idx);
	ring_desc()[1].next = 50;
}

static void b_avail_jump(uint16_t *head, uint16_t *idx)
{
	b_get_id(head, idx);
	*idx = 100;
}

static void b_short_header(uint16_t *head, uint16_t *idx)
{
	struct desc *t = ring_desc();

	header(0, 0);
	t[0] = d(HDR, 8, D_NEXT, 1);
	t[1] = d(STATUS, 1, D_WRITE, 0);
}

static void b_no_status(uint16_t *head, uint16_t *idx)
{
	header(4, 0); /* FLUSH, but nothing writable */
	ring_desc()[0] = d(HDR, 16, 0, 0);
}

static const struct bad_case cases[] = {
	/* Controls: well-formed requests are served (so a NEEDS_RESET below means something). */
	{ "good-get-id", true, false, b_get_id, 0 },
	{ "good-read-indirect", true, false, b_read_indirect, 0 },
	{ "addr-outside-ram", true, false, b_outside_ram, -1 },
	{ "addr-wraps", true, false, b_end_of_space, -1 },
	{ "loop", true, false, b_loop, -1 },
	{ "too-long", true, false, b_too_long, -1 },
	{ "wrong-direction", true, false, b_wrong_direction, -1 },
	{ "zero-length", true, false, b_zero_length, -1 },
	{ "nested-indirect", true, false, b_nested_indirect, -1 },
	{ "indirect-len", true, false, b_indirect_len, -1 },
	{ "indirect-unnegotiated", false, false, b_indirect_unnegotiated, -1 },
	{ "indirect-with-next", true, false, b_indirect_next, -1 },
	{ "head-out-of-range", true, false, b_head_range, -1 },
	{ "next-out-of-range", true, false, b_next_range, -1 },
	{ "avail-index-jump", true, false, b_avail_jump, -1 },
	{ "short-header", true, false, b_short_header, -1 },
	{ "no-status", true, false, b_no_status, -1 },
	{ "ring-outside-ram", true, true, b_get_id, -1 },
	/* Run on a read-only disk: the device itself refuses the write. */
	{ "ro-write", true, false, b_ro_write, 1 },
};

static bool run_case(const struct bad_case *c)
{
	uint16_t head = 0, idx = 1;
	const char *why = setup(c->indirect, c->ring_outside ? 0x2000 : 0);
	uint32_t st, isr;

	if (why) {
		printf("BADCHAIN %s FAIL setup: %s\n", c->name, why);
		return false;
	}
	if (!c->ring_outside) {
		c->build(&head, &idx);
		kick(head, idx);
		wait_device();
	}
	st = rd(REG_STATUS);
	isr = rd(REG_INTERRUPT_STATUS);
	if (c->expect < 0) {
		if (!(st & S_NEEDS_RESET)) {
			printf("BADCHAIN %s FAIL status 0x%x without NEEDS_RESET (used idx %u)\n",
			       c->name, st, used()[1]);
			return false;
		}
		if (!c->ring_outside && !(isr & 2)) {
			printf("BADCHAIN %s FAIL no configuration-change interrupt (0x%x)\n", c->name,
			       isr);
			return false;
		}
		if (used()[1]) {
			printf("BADCHAIN %s FAIL the bad chain was returned as used\n", c->name);
			return false;
		}
	} else {
		uint8_t s = page(P_HDR)[STATUS_OFF];

		if ((st & S_NEEDS_RESET) || used()[1] != 1 || s != c->expect) {
			printf("BADCHAIN %s FAIL status 0x%x used idx %u request status %u, expected "
			       "%d\n", c->name, st, used()[1], s, c->expect);
			return false;
		}
	}
	wr(REG_INTERRUPT_ACK, isr);
	wr(REG_STATUS, 0);
	if (rd(REG_STATUS) != 0) {
		printf("BADCHAIN %s FAIL reset did not clear the status\n", c->name);
		return false;
	}
	printf("BADCHAIN %s PASS status=0x%x isr=0x%x%s%.20s%s\n", c->name, st, isr,
	       c->build == b_get_id && c->expect == 0 ? " id=\"" : "",
	       c->build == b_get_id && c->expect == 0 ? (const char *)page(P_DATA) : "",
	       c->build == b_get_id && c->expect == 0 ? "\"" : "");
	return true;
}

/*
 * One well-formed request on a freshly set-up queue: header, len bytes of
 * data in page P_DATA (device-writable for IN), status. The device is reset
 * afterwards. Returns the status byte, or -1 when the request was not
 * completed.
 */
static int request(uint32_t type, uint64_t sector, const void *src, uint32_t len, bool writable)
{
	struct desc *t = ring_desc();
	int st = -1;

	if (setup(true, 0)) /* (clears every page) */
		return -1;
	if (src)
		memcpy(page(P_DATA), src, len);
	header(type, sector);
	t[0] = d(HDR, 16, D_NEXT, 1);
	t[1] = d(DATA, len, (uint16_t)(D_NEXT | (writable ? D_WRITE : 0)), 2);
	t[2] = d(STATUS, 1, D_WRITE, 0);
	kick(0, 1);
	wait_device();
	if (used()[1] == 1 && !(rd(REG_STATUS) & S_NEEDS_RESET))
		st = page(P_HDR)[STATUS_OFF];
	wr(REG_INTERRUPT_ACK, rd(REG_INTERRUPT_STATUS));
	wr(REG_STATUS, 0);
	return st;
}

static bool read_block(uint64_t sector, uint8_t *out)
{
	if (request(0, sector, NULL, PAGE, true) != 0)
		return false;
	memcpy(out, page(P_DATA), PAGE);
	return true;
}

/* A write of one 512-byte sector inside a 4 KiB block: the rest of the block is kept. */
static bool partial_write(void)
{
	static uint8_t before[PAGE], after[PAGE], five_a[512];

	if (!read_block(0, before))
		return printf("BADCHAIN partial-write FAIL first read\n"), false;
	memset(five_a, 0x5a, sizeof(five_a));
	if (request(1, 1, five_a, 512, false) != 0)
		return printf("BADCHAIN partial-write FAIL the write\n"), false;
	if (!read_block(0, after))
		return printf("BADCHAIN partial-write FAIL second read\n"), false;
	for (int i = 0; i < PAGE; i++) {
		uint8_t want = i >= 512 && i < 1024 ? 0x5a : before[i];

		if (after[i] != want)
			return printf("BADCHAIN partial-write FAIL byte %d is 0x%02x, not 0x%02x\n",
				      i, after[i], want), false;
	}
	printf("BADCHAIN partial-write PASS\n");
	return true;
}

/* WRITE_ZEROES of one 512-byte sector inside the 4 KiB block at sector 6152 (3 MiB + 4 KiB). */
static bool partial_zero(void)
{
	static uint8_t before[PAGE], after[PAGE];
	struct { uint64_t sector; uint32_t nr, flags; } seg = { 6153, 1, 0 };
	bool zeros = true;

	if (!read_block(6152, before))
		return printf("BADCHAIN partial-zero FAIL first read\n"), false;
	for (int i = 512; i < 1024; i++)
		zeros &= !before[i];
	if (zeros)
		return printf("BADCHAIN partial-zero FAIL the sector is zero already\n"), false;
	if (request(13, 0, &seg, sizeof(seg), false) != 0) /* VIRTIO_BLK_T_WRITE_ZEROES */
		return printf("BADCHAIN partial-zero FAIL the request\n"), false;
	if (!read_block(6152, after))
		return printf("BADCHAIN partial-zero FAIL second read\n"), false;
	for (int i = 0; i < PAGE; i++) {
		uint8_t want = i >= 512 && i < 1024 ? 0 : before[i];

		if (after[i] != want)
			return printf("BADCHAIN partial-zero FAIL byte %d is 0x%02x, not 0x%02x\n",
				      i, after[i], want), false;
	}
	printf("BADCHAIN partial-zero PASS\n");
	return true;
}

/* Well-formed requests a Linux guest never sends (not part of "all"). */
static const struct {
	const char *name;
	bool (*run)(void);
} specials[] = {
	{ "partial-write", partial_write },
	{ "partial-zero", partial_zero },
};

int main(int argc, char **argv)
{
	unsigned int failed = 0, ran = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: virtio_bad_chain BASE CASE...   (CASE: a name or all)\n");
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
			fprintf(stderr, "  %s\n", cases[i].name);
		for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++)
			fprintf(stderr, "  %s\n", specials[i].name);
		return 2;
	}
	if (map_pages() < 0 || map_mmio(strtoull(argv[1], NULL, 16)) < 0)
		return 1;
	for (int a = 2; a < argc; a++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			bool all = !strcmp(argv[a], "all");

			if (strcmp(argv[a], cases[i].name) && !(all && cases[i].expect <= 0))
				continue;
			ran++;
			failed += !run_case(&cases[i]);
			fflush(stdout);
		}
		for (size_t i = 0; i < sizeof(specials) / sizeof(specials[0]); i++) {
			if (strcmp(argv[a], specials[i].name))
				continue;
			ran++;
			failed += !specials[i].run();
			fflush(stdout);
		}
	}
	if (!ran) {
		fprintf(stderr, "virtio_bad_chain: no such case\n");
		return 2;
	}
	printf("BADCHAIN-DONE ran=%u failed=%u\n", ran, failed);
	return failed ? 1 : 0;
}
