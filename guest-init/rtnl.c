/* Raw rtnetlink: one request per call, NLM_F_ACK, and the kernel's answer as -errno. */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtnl.h"

#define RTNL_BUF 512 /* every request here is far smaller */

struct rtnl_req {
	struct nlmsghdr *nh;
	char buf[RTNL_BUF] __attribute__((aligned(NLMSG_ALIGNTO)));
};

int rtnl_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	return fd;
}

/* Start a request of type with a zeroed family header of hdr_len bytes; returns that header. */
static void *req_init(struct rtnl_req *r, uint16_t type, uint16_t flags, size_t hdr_len)
{
	memset(r->buf, 0, sizeof(r->buf));
	r->nh = (struct nlmsghdr *)r->buf;
	r->nh->nlmsg_len = (uint32_t)NLMSG_LENGTH(hdr_len);
	r->nh->nlmsg_type = type;
	r->nh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
	r->nh->nlmsg_seq = 1;
	return NLMSG_DATA(r->nh);
}

/* Append attribute type with len bytes of data (the buffer is big enough for every caller). */
static void req_attr(struct rtnl_req *r, uint16_t type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)(r->buf + NLMSG_ALIGN(r->nh->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (uint16_t)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	r->nh->nlmsg_len = (uint32_t)(NLMSG_ALIGN(r->nh->nlmsg_len) + RTA_ALIGN(rta->rta_len));
}

/* Send the request and read its acknowledgement: 0 or the kernel's -errno. */
static int req_run(int fd, struct rtnl_req *r)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	char ans[RTNL_BUF] __attribute__((aligned(NLMSG_ALIGNTO)));
	ssize_t n;

	if (sendto(fd, r->buf, r->nh->nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		struct nlmsghdr *nh = (struct nlmsghdr *)ans;
		size_t left;

		n = recv(fd, ans, sizeof(ans), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		left = (size_t)n;
		for (; NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
			const struct nlmsgerr *e = NLMSG_DATA(nh);

			if (nh->nlmsg_seq != r->nh->nlmsg_seq || nh->nlmsg_type != NLMSG_ERROR)
				continue;
			if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
				return -EPROTO;
			return e->error; /* 0 is the ACK */
		}
	}
}

int rtnl_link_up(int fd, int ifindex)
{
	struct rtnl_req r;
	struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, 0, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return req_run(fd, &r);
}

int rtnl_addr_add(int fd, int ifindex, const uint8_t ip[4], unsigned prefix)
{
	struct rtnl_req r;
	struct ifaddrmsg *ifa = req_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifa));
	uint8_t brd[4];

	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (uint8_t)prefix;
	ifa->ifa_scope = ip[0] == 127 ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ifindex;
	req_attr(&r, IFA_LOCAL, ip, 4);
	req_attr(&r, IFA_ADDRESS, ip, 4);
	if (prefix <= 30) {
		for (int i = 0; i < 4; i++) {
			unsigned bits = prefix > 8u * (unsigned)i ? prefix - 8u * (unsigned)i : 0;
			uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff00 >> bits);

			brd[i] = (uint8_t)(ip[i] | (uint8_t)~mask);
		}
		req_attr(&r, IFA_BROADCAST, brd, 4);
	}
	return req_run(fd, &r);
}

int rtnl_route_add_default(int fd, int ifindex, const uint8_t gw[4])
{
	struct rtnl_req r;
	struct rtmsg *rtm = req_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof(*rtm));
	uint32_t oif = (uint32_t)ifindex;

	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = 0;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	req_attr(&r, RTA_GATEWAY, gw, 4);
	req_attr(&r, RTA_OIF, &oif, sizeof(oif));
	return req_run(fd, &r);
}
