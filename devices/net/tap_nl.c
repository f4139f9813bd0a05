/* TAP setup through rtnetlink (libnl-route-3): the host address and link up, no ip(8). */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>

#include <linux/if.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#include "config.h"
#include "devices/net/tap.h"
#include "log.h"

/* libnl's error codes as -errno, for the callers' rules (return 0 or -errno). */
static int nl_errno(int nlerr)
{
	switch (-nlerr) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_EXIST:
		return -EEXIST;
	case NLE_PERM:
	case NLE_NOACCESS:
		return -EPERM;
	case NLE_NODEV:
	case NLE_OBJ_NOTFOUND:
		return -ENODEV;
	case NLE_INVAL:
	case NLE_RANGE:
		return -EINVAL;
	case NLE_BUSY:
		return -EBUSY;
	default:
		return -EIO;
	}
}

/* RTM_NEWADDR: cfg's host_ip/prefix on the TAP. An address it already has is fine. */
static int add_address(struct nl_sock *sk, const struct tap *t, const struct net_config *cfg)
{
	struct rtnl_addr *addr = rtnl_addr_alloc();
	struct nl_addr *local = nl_addr_build(AF_INET, cfg->host_ip, sizeof(cfg->host_ip));
	int err = -NLE_NOMEM;

	if (addr && local) {
		nl_addr_set_prefixlen(local, (int)cfg->host_prefix);
		rtnl_addr_set_ifindex(addr, t->ifindex);
		rtnl_addr_set_family(addr, AF_INET);
		err = rtnl_addr_set_local(addr, local);
		if (!err) {
			rtnl_addr_set_prefixlen(addr, (int)cfg->host_prefix);
			err = rtnl_addr_add(sk, addr, 0);
		}
		if (err == -NLE_EXIST) /* a supervisor's TAP, or a VM reset */
			err = 0;
	}
	if (err < 0)
		pr_err("net: TAP %s: adding address %u.%u.%u.%u/%u: %s", t->name, cfg->host_ip[0],
		       cfg->host_ip[1], cfg->host_ip[2], cfg->host_ip[3], cfg->host_prefix,
		       nl_geterror(err));
	nl_addr_put(local);
	rtnl_addr_put(addr);
	return err;
}

/* RTM_NEWLINK/SETLINK with IFF_UP, unless the link is up already. */
static int link_up(struct nl_sock *sk, const struct tap *t)
{
	struct rtnl_link *link = NULL, *change = NULL;
	int err;

	err = rtnl_link_get_kernel(sk, t->ifindex, NULL, &link);
	if (err < 0) {
		pr_err("net: TAP %s: reading the link: %s", t->name, nl_geterror(err));
		return err;
	}
	if (!(rtnl_link_get_flags(link) & IFF_UP)) {
		change = rtnl_link_alloc();
		if (!change) {
			err = -NLE_NOMEM;
		} else {
			rtnl_link_set_flags(change, IFF_UP);
			err = rtnl_link_change(sk, link, change, 0);
		}
		if (err < 0)
			pr_err("net: TAP %s: setting the link up: %s", t->name, nl_geterror(err));
	}
	rtnl_link_put(change);
	rtnl_link_put(link);
	return err;
}

int tap_nl_setup(const struct tap *t, const struct net_config *cfg)
{
	struct nl_sock *sk = nl_socket_alloc();
	int err;

	if (!sk) {
		pr_err("net: TAP %s: no memory for a netlink socket", t->name);
		return -ENOMEM;
	}
	err = nl_connect(sk, NETLINK_ROUTE);
	if (err < 0)
		pr_err("net: TAP %s: rtnetlink: %s", t->name, nl_geterror(err));
	if (err >= 0 && cfg->has_host_ip)
		err = add_address(sk, t, cfg);
	if (err >= 0)
		err = link_up(sk, t);
	nl_socket_free(sk);
	return err < 0 ? nl_errno(err) : 0;
}
