/*
 * tests/unit/test_listen.c: the FastCGI socket (fcgi/listen.c) is never world-connectable.
 *
 * Linked with -Wl,--wrap=bind: the wrapper looks at the socket file right after bind made
 * it, the moment a chmod after bind would come too late for.
 */
#include "fcgi/listen.h"
#include "tests/unit/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int __real_bind(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t len);

static int binds;
static mode_t mode_after_bind;

int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    int rc = __real_bind(fd, sa, len);
    struct stat st;
    const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
    binds++;
    if (rc == 0 && sa->sa_family == AF_UNIX && stat(un->sun_path, &st) == 0)
        mode_after_bind = st.st_mode & 07777;
    return rc;
}

int main(void)
{
    char dir[] = "/tmp/test_listen.XXXXXX", path[64];
    ok(mkdtemp(dir) != NULL, "temporary directory");
    snprintf(path, sizeof path, "%s/ecd.sock", dir);

    umask(0); /* the worst case: a process that creates everything world-writable */
    ec_error err = {0};
    int fd = ec_listen_open(path, 16, &err);
    ok(fd >= 0, "listening on %s: %s", path, err.message);
    is_int(binds, 1, "bound once");
    is_int(mode_after_bind, 0660, "the socket is 0660 as soon as bind made it");
    struct stat st;
    ok(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0660,
       "and stays 0660");
    mode_t now = umask(022);
    is_int(now, 0, "the process umask is given back");
    close(fd);

    /* A stale socket of a previous run is replaced, with the same mode. */
    umask(0);
    fd = ec_listen_open(path, 16, &err);
    ok(fd >= 0 && mode_after_bind == 0660, "a stale socket is replaced, 0660 at bind");
    close(fd);
    unlink(path);
    rmdir(dir);
    return tap_done();
}
