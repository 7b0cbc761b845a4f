/*
 * tests/unit/test_password_gate.c: core/password_gate.c, the pool-wide bound on concurrent
 * Argon2id work: forked processes never hold more slots than the gate has, and a process
 * that dies holding one does not keep it.
 */
#include "core/password_gate.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/tap.h"

#define CHILDREN 4
#define ROUNDS 25

typedef struct shared {
    int inside; /* processes between enter and leave */
    int most;   /* the highest `inside` seen */
    int ungated;
} shared;

static void nap_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* CHILDREN processes each enter and leave ROUNDS times, holding the slot a little while;
 * returns the most that were inside at once (or -1 when a child failed). */
static int most_inside(shared *s)
{
    pid_t kids[CHILDREN];
    s->inside = s->most = s->ungated = 0;
    for (int k = 0; k < CHILDREN; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            for (int r = 0; r < ROUNDS; r++) {
                int slot = ec_password_gate_enter();
                if (slot < 0)
                    __atomic_add_fetch(&s->ungated, 1, __ATOMIC_SEQ_CST);
                int now = __atomic_add_fetch(&s->inside, 1, __ATOMIC_SEQ_CST);
                int seen = __atomic_load_n(&s->most, __ATOMIC_SEQ_CST);
                while (now > seen &&
                       !__atomic_compare_exchange_n(&s->most, &seen, now, 0, __ATOMIC_SEQ_CST,
                                                    __ATOMIC_SEQ_CST))
                    ;
                nap_ms(1);
                __atomic_sub_fetch(&s->inside, 1, __ATOMIC_SEQ_CST);
                ec_password_gate_leave(slot);
            }
            _exit(0);
        }
    }
    int failed = 0;
    for (int k = 0; k < CHILDREN; k++) {
        int status = 0;
        if (kids[k] < 0 || waitpid(kids[k], &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            failed = 1;
    }
    return failed ? -1 : s->most;
}

int main(void)
{
    shared *s = mmap(NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED)
        return 1;
    alarm(60); /* a gate that never lets a waiter in fails the test instead of hanging it */

    is_int(ec_password_gate_enter(), -1, "no gate open: enter runs ungated");
    ec_password_gate_leave(-1); /* and leave of nothing does nothing */
    ok(ec_password_gate_open(0) == -1 && errno == EINVAL, "0 slots refused");
    ok(ec_password_gate_open(EC_PASSWORD_GATE_MAX + 1) == -1 && errno == EINVAL,
       "more than EC_PASSWORD_GATE_MAX slots refused");

    /* Without a gate the children overlap: the check below can see a second one inside. */
    int ungated = most_inside(s);
    ok(ungated >= 2, "ungated: %d children inside at once", ungated);

    is_int(ec_password_gate_open(1), 0, "a gate of 1 slot opens");
    ok(ec_password_gate_open(1) == -1 && errno == EBUSY, "a second gate is refused");
    is_int(most_inside(s), 1, "1 slot: never two processes inside at once");
    is_int(s->ungated, 0, "and every one of them took the slot");
    ec_password_gate_close();

    is_int(ec_password_gate_open(2), 0, "a gate of 2 slots opens");
    int most = most_inside(s);
    ok(most >= 1 && most <= 2, "2 slots: at most two inside at once (%d)", most);
    is_int(s->ungated, 0, "and every one of them took a slot");

    /* A process that dies holding both slots frees them. */
    pid_t holder = fork();
    if (holder == 0) {
        int a = ec_password_gate_enter(), b = ec_password_gate_enter();
        _exit(a >= 0 && b >= 0 && a != b ? 0 : 1);
    }
    int status = 0;
    ok(holder > 0 && waitpid(holder, &status, 0) == holder && WIFEXITED(status) &&
           WEXITSTATUS(status) == 0,
       "a child takes both slots and exits without leaving");
    int a = ec_password_gate_enter();
    int b = ec_password_gate_enter();
    ok(a >= 0 && b >= 0 && a != b, "both slots are taken again after their holder died");
    ec_password_gate_leave(a);
    ec_password_gate_leave(b);
    is_int(most_inside(s) <= 2, 1, "and the gate still bounds the pool afterwards");
    ec_password_gate_close();
    is_int(ec_password_gate_enter(), -1, "closed: enter runs ungated again");
    munmap(s, sizeof *s);
    return tap_done();
}
