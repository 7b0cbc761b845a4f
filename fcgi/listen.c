/* fcgi/listen.c: the listen socket and sock_diag queue depth (see listen.h). */
#include "fcgi/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int ec_listen_open(const char *path, int backlog, ec_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        return ec_error_set(err, EC_ERR_INVALID, "listen path too long: %s", path);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ec_error_set(err, EC_ERR_INTERNAL, "socket: %s", strerror(errno));
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* a stale socket of a previous run */
    /* The socket file is made 0660 by bind itself: under a wide umask, a chmod after bind
     * would leave it world-connectable until then. The master is single-threaded here. */
    mode_t old = umask(0117);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc < 0 || listen(fd, backlog) < 0) {
        int e = errno;
        close(fd);
        return ec_error_set(err, EC_ERR_INTERNAL, "cannot listen on %s: %s", path, strerror(e));
    }
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    /* Workers inherit it across fork; exec is never used, but don't leak it to children
     * that might exec. */
    return fd;
}

int ec_listen_queue(int fd, unsigned *queued, unsigned *limit)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0)
        return -1;
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req req;
    } msg = {
        .nlh = {.nlmsg_len = sizeof msg,
                .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                .nlmsg_flags = NLM_F_REQUEST},
        .req = {.sdiag_family = AF_UNIX,
                .udiag_states = 1u << 10 /* TCP_LISTEN */,
                .udiag_ino = (unsigned)st.st_ino,
                .udiag_show = UDIAG_SHOW_RQLEN,
                .udiag_cookie = {~0u, ~0u}},
    };
    struct timeval tv = {.tv_sec = 1};
    setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int rc = -1;
    if (send(nl, &msg, sizeof msg, 0) < 0)
        goto out;
    char buf[8192];
    ssize_t n = recv(nl, buf, sizeof buf, 0);
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; n > 0 && NLMSG_OK(h, (size_t)n);
         h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
            break;
        struct unix_diag_msg *m = NLMSG_DATA(h);
        if (m->udiag_ino != st.st_ino)
            continue;
        struct rtattr *a = (struct rtattr *)(m + 1);
        int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
        for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
            if (a->rta_type == UNIX_DIAG_RQLEN) {
                struct unix_diag_rqlen *q = RTA_DATA(a);
                *queued = q->udiag_rqueue;
                *limit = q->udiag_wqueue;
                rc = 0;
            }
        }
    }
out:
    close(nl);
    return rc;
}
