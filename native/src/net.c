/*
 * linux.netDevices: move a network device into the container's network namespace,
 * renamed, as `ip link set DEV netns NS name NEW` does, over rtnetlink. The kernel
 * drops a device's addresses when it changes namespace, so its permanent global
 * addresses are read first and added again inside; then the device is set up.
 * Runs in the helper (root in the runtime's namespaces), after clone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

#define NL_BUF 32768
#define MAX_ADDRS 64

struct nl_req {
	struct nlmsghdr h;
	union {
		struct ifinfomsg ifi;
		struct ifaddrmsg ifa;
	} u;
	char attrs[512];
};

static uint32_t g_seq;

int nsi_netlink_open(void)
{
	struct sockaddr_nl sa;
	struct timeval tv = { 10, 0 };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		nsi_fail(errno, "netlink socket");
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		nsi_fail(errno, "bind netlink socket");
	/* The kernel answers at once; never wait forever for an answer that will not come. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		nsi_fail(errno, "set netlink receive timeout");
	return fd;
}

static void add_attr(struct nlmsghdr *h, size_t cap, uint16_t type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	if (NLMSG_ALIGN(h->nlmsg_len) + RTA_SPACE(len) > cap)
		nsi_fail(E2BIG, "netlink request too long");
	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	h->nlmsg_len = (uint32_t)(NLMSG_ALIGN(h->nlmsg_len) + RTA_SPACE(len));
}

static void nl_send(int fd, struct nlmsghdr *h, const char *what)
{
	h->nlmsg_seq = ++g_seq;
	if (send(fd, h, h->nlmsg_len, 0) < 0)
		nsi_fail(errno, "netlink send (%s)", what);
}

/*
 * Reads the answers to the last request until its ACK, NLMSG_DONE or an error. Each
 * data message goes to `each` (may be NULL). Returns 0, or -errno from the kernel.
 */
static int nl_recv(int fd, const char *what, void (*each)(struct nlmsghdr *, void *), void *arg)
{
	static char buf[NL_BUF];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			nsi_fail(errno, "netlink recv (%s)", what);
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != g_seq)
				continue;
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				return e->error;
			}
			if (each)
				each(h, arg);
		}
	}
}

static void got_index(struct nlmsghdr *h, void *arg)
{
	if (h->nlmsg_type == RTM_NEWLINK)
		*(int *)arg = ((struct ifinfomsg *)NLMSG_DATA(h))->ifi_index;
}

/* The index of the device called `name` in the socket's namespace. */
static int link_index(int fd, const char *name)
{
	struct nl_req r;
	int index = 0, err;

	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	r.h.nlmsg_type = RTM_GETLINK;
	r.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK; /* the answer, then an ACK to stop at */
	r.u.ifi.ifi_family = AF_UNSPEC;
	add_attr(&r.h, sizeof(r), IFLA_IFNAME, name, strlen(name) + 1);
	nl_send(fd, &r.h, name);
	err = nl_recv(fd, name, got_index, &index);
	if (err < 0 || index <= 0)
		nsi_fail(err < 0 ? -err : ENODEV, "network device %s", name);
	return index;
}

struct addrs {
	int index;
	int n;
	struct nlmsghdr *msg[MAX_ADDRS];
};

/* Keeps the device's permanent addresses of global scope (copies of RTM_NEWADDR). */
static void keep_addr(struct nlmsghdr *h, void *arg)
{
	struct addrs *a = arg;
	struct ifaddrmsg *ifa = NLMSG_DATA(h);
	uint32_t flags = ifa->ifa_flags;
	int len = (int)IFA_PAYLOAD(h);

	if (h->nlmsg_type != RTM_NEWADDR || (int)ifa->ifa_index != a->index)
		return;
	if (ifa->ifa_scope != RT_SCOPE_UNIVERSE)
		return;
	for (struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type == IFA_FLAGS)
			memcpy(&flags, RTA_DATA(rta), sizeof(flags));
	if (!(flags & IFA_F_PERMANENT) || a->n == MAX_ADDRS)
		return;
	a->msg[a->n] = malloc(h->nlmsg_len);
	if (!a->msg[a->n])
		nsi_fail(ENOMEM, "malloc");
	memcpy(a->msg[a->n++], h, h->nlmsg_len);
}

/* Adds a saved address to device `index` (without its label, which names the old device). */
static void add_addr(int fd, struct nlmsghdr *saved, int index, const char *dev)
{
	struct nl_req r;
	struct ifaddrmsg *old = NLMSG_DATA(saved);
	int len = (int)IFA_PAYLOAD(saved), err;

	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	r.h.nlmsg_type = RTM_NEWADDR;
	r.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	r.u.ifa = *old;
	r.u.ifa.ifa_index = (uint32_t)index;
	for (struct rtattr *rta = IFA_RTA(old); RTA_OK(rta, len); rta = RTA_NEXT(rta, len))
		if (rta->rta_type == IFA_ADDRESS || rta->rta_type == IFA_LOCAL ||
		    rta->rta_type == IFA_BROADCAST || rta->rta_type == IFA_FLAGS)
			add_attr(&r.h, sizeof(r), rta->rta_type, RTA_DATA(rta), RTA_PAYLOAD(rta));
	nl_send(fd, &r.h, dev);
	err = nl_recv(fd, dev, NULL, NULL);
	if (err < 0 && err != -EEXIST)
		nsi_fail(-err, "add address to network device %s", dev);
}

static void set_link(int fd, int index, const char *dev, unsigned change, unsigned flags,
		     int nspid, int nsfd, const char *newname)
{
	struct nl_req r;
	int err;

	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
	r.h.nlmsg_type = RTM_NEWLINK;
	r.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	r.u.ifi.ifi_family = AF_UNSPEC;
	r.u.ifi.ifi_index = index;
	r.u.ifi.ifi_change = change;
	r.u.ifi.ifi_flags = flags;
	if (nspid > 0)
		add_attr(&r.h, sizeof(r), IFLA_NET_NS_PID, &nspid, sizeof(nspid));
	if (nsfd >= 0)
		add_attr(&r.h, sizeof(r), IFLA_NET_NS_FD, &nsfd, sizeof(nsfd));
	if (newname)
		add_attr(&r.h, sizeof(r), IFLA_IFNAME, newname, strlen(newname) + 1);
	nl_send(fd, &r.h, dev);
	err = nl_recv(fd, dev, NULL, NULL);
	if (err < 0)
		nsi_fail(-err, nspid > 0 || nsfd >= 0 ? "move network device %s into the container"
						     : "set network device %s up", dev);
}

/*
 * Moves `dev` (a device of nlfd's namespace) into the namespace of `nsfd` (a netns
 * file) or, if nsfd < 0, of process `pid`, as `newname`; restores its addresses there
 * and sets it up. `enter` is an fd setns(2) accepts for that namespace (a netns file
 * or a pidfd).
 */
void nsi_netdev_move(int nlfd, const char *dev, const char *newname, int nsfd, pid_t pid,
		     int enter)
{
	struct addrs a = { 0 };
	struct nl_req r;
	int status, err;
	pid_t c;

	a.index = link_index(nlfd, dev);
	memset(&r, 0, sizeof(r));
	r.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
	r.h.nlmsg_type = RTM_GETADDR;
	r.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	r.u.ifa.ifa_family = AF_UNSPEC;
	nl_send(nlfd, &r.h, dev);
	err = nl_recv(nlfd, dev, keep_addr, &a);
	if (err < 0)
		nsi_fail(-err, "read the addresses of network device %s", dev);
	set_link(nlfd, a.index, dev, 0, 0, nsfd < 0 ? pid : 0, nsfd, newname);

	/* Inside the container's namespace: a process of its own, so the helper stays put. */
	c = fork();
	if (c < 0)
		nsi_fail(errno, "fork");
	if (c == 0) {
		int fd, index;
		if (setns(enter, CLONE_NEWNET) < 0)
			nsi_fail(errno, "enter the container's network namespace");
		fd = nsi_netlink_open();
		index = link_index(fd, newname);
		for (int i = 0; i < a.n; i++)
			add_addr(fd, a.msg[i], index, newname);
		set_link(fd, index, newname, IFF_UP, IFF_UP, 0, -1, NULL);
		_exit(0);
	}
	if (waitpid(c, &status, 0) < 0)
		nsi_fail(errno, "waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		_exit(1); /* the process reported its error on the sync socket */
	for (int i = 0; i < a.n; i++)
		free(a.msg[i]);
}
