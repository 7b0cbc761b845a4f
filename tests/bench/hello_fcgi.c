/*
 * tests/bench/hello_fcgi.c: B1, the FastCGI ceiling of the benchmarks (tests/bench/run).
 *
 * A bare libfcgi "hello" pool shaped like ecd: the master opens the unix socket, forks
 * WORKERS processes that each accept on it with FCGX_Accept_r and answer every request with
 * a tiny JSON body, and waits. No routing, no parsing, no database: whatever ecd costs above
 * this is ecd's own cost.
 *
 *   hello_fcgi SOCKET_PATH WORKERS
 *
 * SIGTERM/SIGINT to the master stops the workers and removes the socket. The bench runs the
 * pool in its own process group and kills the group as well.
 */
#include <errno.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_WORKERS 256

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void worker(int sock)
{
    static const char body[] = "{\"name\":\"hello\"}";
    FCGX_Request req;

    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    if (FCGX_InitRequest(&req, sock, 0) != 0)
        _exit(1);
    while (FCGX_Accept_r(&req) >= 0) {
        FCGX_FPrintF(req.out,
                     "Status: 200 OK\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %u\r\n"
                     "\r\n",
                     (unsigned)(sizeof body - 1));
        FCGX_PutStr(body, (int)(sizeof body - 1), req.out);
        FCGX_Finish_r(&req);
    }
    _exit(0);
}

int main(int argc, char **argv)
{
    pid_t kids[MAX_WORKERS];
    int n, sock, i, live;

    if (argc != 3) {
        fprintf(stderr, "usage: %s SOCKET_PATH WORKERS\n", argv[0]);
        return 2;
    }
    n = atoi(argv[2]);
    if (n < 1 || n > MAX_WORKERS) {
        fprintf(stderr, "hello_fcgi: WORKERS must be 1..%d\n", MAX_WORKERS);
        return 2;
    }
    if (FCGX_Init() != 0) {
        fprintf(stderr, "hello_fcgi: FCGX_Init failed\n");
        return 1;
    }
    unlink(argv[1]);
    sock = FCGX_OpenSocket(argv[1], 511);
    if (sock < 0) {
        fprintf(stderr, "hello_fcgi: cannot listen on %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    chmod(argv[1], 0666);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    for (i = 0; i < n; i++) {
        kids[i] = fork();
        if (kids[i] < 0) {
            perror("hello_fcgi: fork");
            n = i;
            stop_requested = 1;
            break;
        }
        if (kids[i] == 0)
            worker(sock);
    }
    live = n;
    while (live > 0 && !stop_requested) {
        pid_t p = wait(NULL);
        if (p > 0)
            live--;
        else if (errno != EINTR)
            break;
    }
    for (i = 0; i < n; i++)
        kill(kids[i], SIGTERM);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    unlink(argv[1]);
    return 0;
}
