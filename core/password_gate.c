/* core/password_gate.c: a pool-wide bound on concurrent Argon2id work (see password_gate.h). */
#include "core/password_gate.h"

#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct gate {
    unsigned slots;
    pthread_mutex_t lock[EC_PASSWORD_GATE_MAX];
} gate;

static gate *the_gate;

int ec_password_gate_open(unsigned slots)
{
    pthread_mutexattr_t attr;
    unsigned i;

    if (slots < 1 || slots > EC_PASSWORD_GATE_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (the_gate != NULL) {
        errno = EBUSY;
        return -1;
    }
    gate *g = mmap(NULL, sizeof *g, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g == MAP_FAILED)
        return -1;
    int rc = pthread_mutexattr_init(&attr);
    if (rc == 0)
        rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0)
        rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    for (i = 0; rc == 0 && i < slots; i++)
        rc = pthread_mutex_init(&g->lock[i], &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) {
        while (i-- > 0)
            pthread_mutex_destroy(&g->lock[i]);
        munmap(g, sizeof *g);
        errno = rc;
        return -1;
    }
    g->slots = slots;
    the_gate = g;
    return 0;
}

void ec_password_gate_close(void)
{
    if (the_gate == NULL)
        return;
    munmap(the_gate, sizeof *the_gate);
    the_gate = NULL;
}

/* 0 when slot i is now ours (made consistent if its last holder died holding it). */
static int taken(int rc, unsigned i)
{
    if (rc == EOWNERDEAD)
        rc = pthread_mutex_consistent(&the_gate->lock[i]);
    return rc;
}

int ec_password_gate_enter(void)
{
    if (the_gate == NULL)
        return -1;
    unsigned n = the_gate->slots;
    /* A free slot if there is one; otherwise wait on one, chosen by pid so that the waiters
     * of a pool spread over the slots. */
    for (unsigned i = 0; i < n; i++)
        if (taken(pthread_mutex_trylock(&the_gate->lock[i]), i) == 0)
            return (int)i;
    unsigned i = (unsigned)getpid() % n;
    return taken(pthread_mutex_lock(&the_gate->lock[i]), i) == 0 ? (int)i : -1;
}

void ec_password_gate_leave(int slot)
{
    if (the_gate == NULL || slot < 0 || (unsigned)slot >= the_gate->slots)
        return;
    pthread_mutex_unlock(&the_gate->lock[slot]);
}
