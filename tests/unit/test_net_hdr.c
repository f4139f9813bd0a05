/* Unit tests for devices/net/net_hdr.c: features, TAP offloads, RX/TX chain and header checks. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/net/net_hdr.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BIT(n)	      (1ull << (n))

#define ALL_OFFLOADS                                                                               \
	(BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4) |     \
	 BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_HOST_ECN) | BIT(VIRTIO_NET_F_GUEST_TSO4) | \
	 BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_ECN))

static char err[256];

static void test_net_hdr_features(void **state)
{
	uint64_t base = BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS);

	assert_int_equal(sizeof(struct virtio_net_hdr_v1), NET_HDR_LEN);
	assert_true(net_features(false) == base);
	assert_true(net_features(true) == (base | ALL_OFFLOADS));
	/* Never offered: merged buffers, a control queue, multiqueue, UFO. */
	assert_false(net_features(true) & (BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_CTRL_VQ) |
					   BIT(VIRTIO_NET_F_MQ) | BIT(VIRTIO_NET_F_GUEST_UFO) |
					   BIT(VIRTIO_NET_F_HOST_UFO)));
}

struct offload_case {
	uint64_t guest;
	unsigned int tun;
};

static void test_net_hdr_tun_offloads(void **state)
{
	static const struct offload_case cases[] = {
	    {0, 0},
	    {BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4), 0}, /* host side only */
	    {BIT(VIRTIO_NET_F_GUEST_TSO4), 0},			       /* TSO needs CSUM */
	    {BIT(VIRTIO_NET_F_GUEST_CSUM), TUN_F_CSUM},
	    {BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4), TUN_F_CSUM | TUN_F_TSO4},
	    {BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO6) |
		 BIT(VIRTIO_NET_F_GUEST_ECN),
	     TUN_F_CSUM | TUN_F_TSO6 | TUN_F_TSO_ECN},
	    {BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_ECN), TUN_F_CSUM},
	    {ALL_OFFLOADS, NET_TUN_OFFLOADS},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		assert_int_equal(net_tun_offloads(cases[i].guest), cases[i].tun);
}

/* A chain over one buffer: out bytes readable, then in bytes writable, split at cuts. */
struct fake_chain {
	uint8_t mem[2048];
	struct iovec iov[8];
	struct virtq_chain c;
};

static void chain(struct fake_chain *f, const unsigned int *out, unsigned int nout,
		  const unsigned int *in, unsigned int nin)
{
	size_t off = 0;

	memset(f, 0, sizeof(*f));
	f->c.iov = f->iov;
	f->c.cap = ARRAY_SIZE(f->iov);
	for (unsigned int i = 0; i < nout + nin; i++) {
		unsigned int len = i < nout ? out[i] : in[i - nout];

		f->iov[i] = (struct iovec){.iov_base = f->mem + off, .iov_len = len};
		off += len;
		if (i < nout)
			f->c.out_len += len;
		else
			f->c.in_len += len;
	}
	f->c.nr_out = nout;
	f->c.nr_in = nin;
}

static void test_net_hdr_rx_check(void **state)
{
	static const unsigned int hdr[] = {12}, small[] = {6, 5}, big[] = {6, 6, 1500};
	struct fake_chain f;

	chain(&f, NULL, 0, big, 3);
	assert_int_equal(net_rx_check(&f.c, err, sizeof(err)), 0);
	chain(&f, NULL, 0, hdr, 1);
	assert_int_equal(net_rx_check(&f.c, err, sizeof(err)), 0);
	chain(&f, NULL, 0, small, 2);
	assert_int_equal(net_rx_check(&f.c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "cannot hold the 12-byte header"));
	chain(&f, hdr, 1, big, 3);
	assert_int_equal(net_rx_check(&f.c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "device-readable"));
}

struct rx_case {
	uint8_t flags, gso_type;
	uint64_t guest;
	bool ok;
	uint8_t flags_after;
};

static void test_net_hdr_rx_fix(void **state)
{
	const uint64_t csum = BIT(VIRTIO_NET_F_GUEST_CSUM);
	const struct rx_case cases[] = {
	    {0, VIRTIO_NET_HDR_GSO_NONE, 0, true, 0},
	    {VIRTIO_NET_HDR_F_DATA_VALID, 0, 0, true, 0}, /* dropped, not the packet */
	    {VIRTIO_NET_HDR_F_DATA_VALID, 0, csum, true, VIRTIO_NET_HDR_F_DATA_VALID},
	    {VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, false, 0},
	    {VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, csum, true, VIRTIO_NET_HDR_F_NEEDS_CSUM},
	    {VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, csum, false, 0},
	    {VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4,
	     csum | BIT(VIRTIO_NET_F_GUEST_TSO4), true, VIRTIO_NET_HDR_F_NEEDS_CSUM},
	    {VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV6,
	     csum | BIT(VIRTIO_NET_F_GUEST_TSO4), false, 0},
	    {VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN,
	     csum | BIT(VIRTIO_NET_F_GUEST_TSO4), false, 0},
	    {VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN,
	     csum | BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_ECN), true,
	     VIRTIO_NET_HDR_F_NEEDS_CSUM},
	    {VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_UDP, ALL_OFFLOADS, false, 0},
	    {0, VIRTIO_NET_HDR_GSO_ECN, ALL_OFFLOADS, false, 0},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct virtio_net_hdr_v1 h = {.flags = cases[i].flags,
					      .gso_type = cases[i].gso_type,
					      .num_buffers = htole16(7)};
		bool ok = net_rx_fix_hdr(&h, cases[i].guest);

		print_message("case %zu: ok %d\n", i, ok);
		assert_int_equal(ok, cases[i].ok);
		if (ok) {
			assert_int_equal(h.flags, cases[i].flags_after);
			assert_int_equal(le16toh(h.num_buffers), 1);
		}
	}
}

/* Put header h at the start of f's readable bytes and a frame of len bytes behind it. */
static void tx_fill(struct fake_chain *f, const struct virtio_net_hdr_v1 *h)
{
	uint8_t flat[sizeof(f->mem)];

	memset(flat, 0xab, sizeof(flat));
	memcpy(flat, h, sizeof(*h));
	iov_from_buf(f->iov, f->c.nr_out, 0, flat, f->c.out_len);
}

static void test_net_hdr_tx_parse(void **state)
{
	static const unsigned int split[] = {10, 4, 100}, one[] = {12}, w[] = {12};
	struct virtio_net_hdr_v1 h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
				      .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
				      .csum_start = htole16(34)},
				 got;
	struct iovec frame[8];
	struct fake_chain f;
	int n;

	/* The header across two descriptors; the frame starts inside the second. */
	chain(&f, split, 3, NULL, 0);
	tx_fill(&f, &h);
	n = net_tx_parse(&f.c, ALL_OFFLOADS, &got, frame, 8, err, sizeof(err));
	assert_int_equal(n, 2);
	assert_memory_equal(&got, &h, sizeof(h));
	assert_ptr_equal(frame[0].iov_base, f.mem + 12);
	assert_int_equal(frame[0].iov_len, 2);
	assert_int_equal(frame[1].iov_len, 100);

	/* Offloads the driver did not negotiate, or flags it may not send: dropped. */
	assert_int_equal(net_tx_parse(&f.c, 0, &got, frame, 8, err, sizeof(err)), -EPROTO);
	assert_int_equal(
	    net_tx_parse(&f.c, BIT(VIRTIO_NET_F_CSUM), &got, frame, 8, err, sizeof(err)), -EPROTO);
	h.gso_type = VIRTIO_NET_HDR_GSO_NONE;
	tx_fill(&f, &h);
	assert_int_equal(
	    net_tx_parse(&f.c, BIT(VIRTIO_NET_F_CSUM), &got, frame, 8, err, sizeof(err)), 2);
	h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	tx_fill(&f, &h);
	assert_int_equal(net_tx_parse(&f.c, ALL_OFFLOADS, &got, frame, 8, err, sizeof(err)),
			 -EPROTO);
	h.flags = 0;
	h.gso_type = VIRTIO_NET_HDR_GSO_UDP;
	tx_fill(&f, &h);
	assert_int_equal(net_tx_parse(&f.c, ALL_OFFLOADS, &got, frame, 8, err, sizeof(err)),
			 -EPROTO);

	/* Only a header: an empty frame, dropped. */
	chain(&f, one, 1, NULL, 0);
	assert_int_equal(net_tx_parse(&f.c, 0, &got, frame, 8, err, sizeof(err)), -EMSGSIZE);

	/* Malformed: a writable buffer, or shorter than the header. */
	chain(&f, one, 1, w, 1);
	assert_int_equal(net_tx_parse(&f.c, 0, &got, frame, 8, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "device-writable"));
	chain(&f, split, 1, NULL, 0);
	assert_int_equal(net_tx_parse(&f.c, 0, &got, frame, 8, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "shorter than the 12-byte header"));
}

static void test_net_hdr_tx_too_long(void **state)
{
	static uint8_t big[NET_HDR_LEN + NET_MAX_FRAME + 1];
	struct iovec iov[2] = {{big, NET_HDR_LEN + NET_MAX_FRAME}, {big, 1}};
	struct virtq_chain c = {
	    .iov = iov, .cap = 2, .nr_out = 1, .out_len = NET_HDR_LEN + NET_MAX_FRAME};
	struct virtio_net_hdr_v1 got;
	struct iovec frame[2];

	assert_int_equal(net_tx_parse(&c, 0, &got, frame, 2, err, sizeof(err)), 1);
	c.nr_out = 2;
	c.out_len++;
	assert_int_equal(net_tx_parse(&c, 0, &got, frame, 2, err, sizeof(err)), -EMSGSIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_net_hdr_features), cmocka_unit_test(test_net_hdr_tun_offloads),
	    cmocka_unit_test(test_net_hdr_rx_check), cmocka_unit_test(test_net_hdr_rx_fix),
	    cmocka_unit_test(test_net_hdr_tx_parse), cmocka_unit_test(test_net_hdr_tx_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
