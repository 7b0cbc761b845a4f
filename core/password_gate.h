/*
 * core/password_gate.h: at most N Argon2id computations at once across a process pool.
 *
 * Each password hash or verification holds its memory cost (EC_PASSWORD_DEFAULT: 7 MiB) for
 * as long as it runs; W workers hashing at once hold W times that. The gate bounds it to
 * `slots` times that, whatever W and however many logins arrive together: the master opens
 * it before it forks (a shared mapping of `slots` process-shared robust mutexes), and each
 * worker takes a slot around every hash and verification, waiting while none is free. The
 * price is throughput: logins and registrations beyond `slots` at a time queue, at most about
 * `slots` / (one hash's time) of them per second.
 *
 * Failure: a process that dies holding a slot (a worker killed at its request timeout)
 * frees it; the next taker is told so (EOWNERDEAD) and makes the slot usable again. A lock
 * error of another kind lets that one computation run ungated: the gate can cost memory,
 * never a login. Without an open gate (ecctl, the tests) enter and leave do nothing.
 */
#ifndef EC_CORE_PASSWORD_GATE_H
#define EC_CORE_PASSWORD_GATE_H

/* The most slots a gate can have. */
#define EC_PASSWORD_GATE_MAX 64

/* Maps the process's gate with `slots` slots (1..EC_PASSWORD_GATE_MAX), shared with every
 * process forked afterwards. 0, or -1 with errno set (EINVAL for a slot count out of range,
 * EBUSY when a gate is already open). */
int ec_password_gate_open(unsigned slots);

/* Unmaps the gate (in the process that opened it, once its children are gone). */
void ec_password_gate_close(void);

/* Takes a slot, waiting for one. Returns the slot to hand to leave, or -1 when the
 * computation runs ungated (no gate open, or a lock error). */
int ec_password_gate_enter(void);

/* Gives back the slot enter returned (-1: nothing to give back). */
void ec_password_gate_leave(int slot);

#endif
