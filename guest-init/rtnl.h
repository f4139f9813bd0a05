/* Raw rtnetlink (NETLINK_ROUTE) requests: link up, IPv4 address, default route. No library. */
#ifndef TORPOR_GUEST_INIT_RTNL_H
#define TORPOR_GUEST_INIT_RTNL_H

#include <stdint.h>

/* A NETLINK_ROUTE socket (close-on-exec), or -errno. */
int rtnl_open(void);

/* RTM_NEWLINK: set IFF_UP on the interface. Returns 0 or the kernel's -errno. */
int rtnl_link_up(int fd, int ifindex);

/*
 * RTM_NEWADDR: add ip/prefix (network byte order) to the interface, with the
 * subnet's broadcast address for prefixes up to 30. Returns 0, -EEXIST if the
 * interface has that address already, or another -errno.
 */
int rtnl_addr_add(int fd, int ifindex, const uint8_t ip[4], unsigned prefix);

/*
 * RTM_NEWROUTE: the IPv4 default route via gw on the interface (main table).
 * Returns 0, -EEXIST if a default route exists already, or another -errno.
 */
int rtnl_route_add_default(int fd, int ifindex, const uint8_t gw[4]);

#endif
