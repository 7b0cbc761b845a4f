/*
 * fcgi/listen.h: the FastCGI listen socket and its accept-queue depth.
 *
 * The master opens the unix socket once and keeps it across reloads, so nginx never meets
 * a closed socket: workers of the old and the new generation accept from the same queue.
 * It is non-blocking: a worker that loses the race for a connection gets EAGAIN, not a
 * block in accept() that a graceful stop could not interrupt. The socket file is mode 0660
 * from the moment bind creates it, whatever the process umask.
 *
 * Failure: ec_listen_open() returns -1 with a message; ec_listen_queue() returns -1 when
 * the kernel does not say (the status page then omits the number).
 */
#ifndef EC_FCGI_LISTEN_H
#define EC_FCGI_LISTEN_H

#include "core/error.h"

int ec_listen_open(const char *path, int backlog, ec_error *err);
/* Connections waiting to be accepted, and the backlog limit, of a listening unix socket. */
int ec_listen_queue(int fd, unsigned *queued, unsigned *limit);

#endif
