/* fcgi/master.c: the master's supervision loop (see master.h). */
#include "fcgi/master.h"

#include "core/log.h"
#include "fcgi/scheduler.h"
#include "fcgi/worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { RUNNING, STOP_GRACEFUL, STOP_NOW };

typedef struct master {
    const char *config_path;
    ec_app *app; /* the current generation's: never NULL, a failed reload keeps the old one */
    ec_scoreboard *sb;
    int listen_fd;
    uint32_t generation;
    int stopping;
    int64_t stop_deadline_ms;
    int64_t next_spawn_ms; /* backoff after start failures */
    int64_t backoff_ms;
    ec_scheduler sched; /* plugins' commands on a timer (fcgi/scheduler.h) */
} master;

static void spawn(master *m)
{
    ec_slot *slot = ec_scoreboard_claim(m->sb, 0, m->generation);
    if (slot == NULL) {
        ec_log(EC_LOG_ERROR, "master", "scoreboard full: cannot start a worker");
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        ec_log(EC_LOG_ERROR, "master", "fork: %s", strerror(errno));
        ec_scoreboard_release(slot);
        m->next_spawn_ms = ec_now_mono_ms() + 1000;
        return;
    }
    if (pid == 0) {
        slot->pid = getpid();
        ec_worker_main(m->app, m->sb, slot, m->listen_fd);
    }
    slot->pid = pid;
}

static int live_workers(const master *m, uint32_t generation, int any_generation)
{
    int n = 0;
    for (size_t i = 0; i < EC_SB_SLOTS; i++) {
        const ec_slot *s = &m->sb->slots[i];
        if (s->state != EC_SLOT_FREE && s->state != EC_SLOT_ORPHANED &&
            (any_generation || s->generation == generation))
            n++;
    }
    return n;
}

static void signal_workers(master *m, int sig, int only_old)
{
    for (size_t i = 0; i < EC_SB_SLOTS; i++) {
        ec_slot *s = &m->sb->slots[i];
        if (s->state == EC_SLOT_FREE || s->pid <= 0)
            continue;
        if (only_old && s->generation == m->generation)
            continue;
        kill(s->pid, sig);
    }
}

static void maintain(master *m)
{
    if (m->stopping || ec_now_mono_ms() < m->next_spawn_ms)
        return;
    int want = m->app->settings->workers;
    m->sb->workers_wanted = (uint32_t)want;
    for (int have = live_workers(m, m->generation, 0); have < want; have++)
        spawn(m);
}

static void describe_exit(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(buf, size, "was killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
}

static void reap(master *m)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        ec_slot *s = ec_scoreboard_find(m->sb, pid);
        if (s == NULL) {
            ec_scheduler_reaped(&m->sched, pid, status);
            continue;
        }
        int current = s->generation == m->generation && !m->stopping;
        int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (current && !clean) {
            char how[64];
            describe_exit(status, how, sizeof how);
            char route[EC_SB_ROUTE];
            snprintf(route, sizeof route, "%s", s->route[0] ? s->route : "-");
            if (s->state == EC_SLOT_BUSY)
                ec_log(EC_LOG_ERROR, "master",
                       "worker %ld %s while serving route %s (request_id=%s); respawning",
                       (long)pid, how, route, s->request_id);
            else
                ec_log(EC_LOG_ERROR, "master",
                       "worker %ld %s while %s (last route %s); "
                       "respawning",
                       (long)pid, how, s->state == EC_SLOT_STARTING ? "starting" : "idle", route);
            __atomic_add_fetch(&m->sb->respawns, 1, __ATOMIC_RELAXED);
            if (WIFEXITED(status) && WEXITSTATUS(status) == 2) {
                m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 : 250;
                if (m->backoff_ms > 5000)
                    m->backoff_ms = 5000;
                m->next_spawn_ms = ec_now_mono_ms() + m->backoff_ms;
            }
        } else if (current) {
            ec_log(EC_LOG_INFO, "master", "worker %ld recycled after %llu requests", (long)pid,
                   (unsigned long long)s->requests);
        }
        if (clean)
            m->backoff_ms = 0;
        ec_scoreboard_adopter_gone(m->sb, pid);
        uint32_t left = ec_scoreboard_retire(m->sb, s);
        if (left > 0)
            ec_log(EC_LOG_WARN, "master",
                   "worker %ld left %u audit record(s) queued behind its replies; another "
                   "worker writes them",
                   (long)pid, left);
    }
}

/* At the end, with no worker left: the audit records still queued in orphaned slots (an
 * immediate stop, or workers that died while the pool stopped) are written by the master
 * itself, with a database client of its own (no fork follows); what cannot be written is
 * logged whole. */
static void write_orphans(master *m)
{
    if (__atomic_load_n(&m->sb->audit_orphans, __ATOMIC_ACQUIRE) == 0)
        return;
    ec_error err = {0};
    ec_db *db = ec_db_new(m->app->settings->mongodb_uri, m->app->settings->database, "ecd", &err);
    ec_slot *s;
    while ((s = ec_scoreboard_adopt(m->sb, getpid())) != NULL) {
        ec_oplog_queue *q = ec_slot_audit(m->sb, s);
        uint32_t n = __atomic_load_n(&q->n, __ATOMIC_ACQUIRE);
        ec_status st = db ? ec_oplog_queue_flush(q, db) : EC_ERR_UNAVAILABLE;
        if (st == EC_OK)
            ec_log(EC_LOG_INFO, "master", "wrote %u audit record(s) a worker left queued", n);
        else
            ec_oplog_queue_abandon(q, "not written (the pool stopped)");
        ec_scoreboard_release(s);
    }
    ec_db_free(db);
}

static void check_timeouts(master *m)
{
    int64_t now = ec_now_mono_ms();
    int64_t limit = (int64_t)m->app->settings->request_timeout_s * 1000;
    for (size_t i = 0; i < EC_SB_SLOTS; i++) {
        ec_slot *s = &m->sb->slots[i];
        int64_t since = __atomic_load_n(&s->busy_since_ms, __ATOMIC_ACQUIRE);
        if (s->state != EC_SLOT_BUSY || since == 0 || now - since <= limit || s->pid <= 0)
            continue;
        ec_log(EC_LOG_ERROR, "master",
               "worker %ld ran past request_timeout (%lld ms) on route %s (request_id=%s); "
               "killing it",
               (long)s->pid, (long long)(now - since), s->route, s->request_id);
        __atomic_store_n(&s->busy_since_ms, 0, __ATOMIC_RELEASE); /* kill once */
        __atomic_add_fetch(&m->sb->timeouts, 1, __ATOMIC_RELAXED);
        kill(s->pid, SIGKILL);
    }
}

/* Loads the config and plugins in a throwaway child: a broken plugin can crash it, not us. */
static int check_in_child(const char *config_path)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        ec_error err = {0};
        ec_app *app = ec_app_load(config_path, &err);
        if (app == NULL)
            ec_log(EC_LOG_ERROR, "master", "reload refused: %s", err.message);
        _exit(app ? 0 : 1);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void reload(master *m)
{
    ec_log(EC_LOG_INFO, "master", "reloading %s", m->config_path);
    if (check_in_child(m->config_path) < 0) {
        ec_log(EC_LOG_ERROR, "master", "reload failed; the running pool is unchanged");
        return;
    }
    /* The new app loads beside the old one (see app.h), so a load that fails here, after
     * the check passed, keeps the old app: the master goes on respawning its workers. */
    ec_error err = {0};
    ec_app *app = ec_app_load(m->config_path, &err);
    if (app == NULL) {
        ec_log(EC_LOG_ERROR, "master",
               "reload failed after its check: %s; the running pool is unchanged", err.message);
        return;
    }
    /* The old workers keep their own copies of the old code. */
    ec_app_free(m->app);
    m->app = app;
    ec_log_set_level(m->app->settings->log_level);
    ec_scheduler_load(&m->sched, m->app);
    m->generation++;
    m->sb->generation = m->generation;
    __atomic_add_fetch(&m->sb->reloads, 1, __ATOMIC_RELAXED);
    m->next_spawn_ms = 0;
    m->backoff_ms = 0;
    maintain(m);
    signal_workers(m, SIGQUIT, 1);
    ec_log(EC_LOG_INFO, "master", "reloaded: generation %u", m->generation);
}

static void begin_stop(master *m, int how)
{
    if (m->stopping == STOP_NOW || m->stopping == how)
        return;
    m->stopping = how;
    int grace = how == STOP_NOW ? 3 : m->app->settings->request_timeout_s + 5;
    m->stop_deadline_ms = ec_now_mono_ms() + grace * 1000LL;
    ec_log(EC_LOG_INFO, "master", "%s stop", how == STOP_NOW ? "immediate" : "graceful");
    signal_workers(m, how == STOP_NOW ? SIGTERM : SIGQUIT, 0);
    /* A scheduled run is safe to cut: the next one resumes it. */
    ec_scheduler_signal(&m->sched, SIGTERM);
}

int ec_master_run(const char *config_path, ec_app *app, ec_scoreboard *sb, int listen_fd)
{
    master m = {.config_path = config_path, .app = app, .sb = sb, .listen_fd = listen_fd};
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    ec_log(EC_LOG_INFO, "master", "started: %d workers, pid %ld", app->settings->workers,
           (long)getpid());
    ec_scheduler_load(&m.sched, app);
    maintain(&m);
    for (;;) {
        struct timespec tick = {0, 100 * 1000 * 1000};
        siginfo_t info;
        int sig = sigtimedwait(&set, &info, &tick);
        switch (sig) {
        case SIGCHLD: break; /* reaped below */
        case SIGHUP:
            if (!m.stopping)
                reload(&m);
            break;
        case SIGQUIT: begin_stop(&m, STOP_GRACEFUL); break;
        case SIGTERM:
        case SIGINT: begin_stop(&m, STOP_NOW); break;
        case SIGUSR1:
            ec_log_reopen();
            signal_workers(&m, SIGUSR1, 0);
            ec_log(EC_LOG_INFO, "master", "log reopened");
            break;
        default: break;
        }
        reap(&m);
        check_timeouts(&m);
        maintain(&m);
        if (!m.stopping)
            ec_scheduler_tick(&m.sched, m.app);
        if (m.stopping) {
            if (live_workers(&m, 0, 1) == 0)
                break;
            if (ec_now_mono_ms() > m.stop_deadline_ms) {
                ec_log(EC_LOG_WARN, "master", "workers still running at the deadline: killing");
                signal_workers(&m, SIGKILL, 0);
                m.stop_deadline_ms = ec_now_mono_ms() + 1000;
            }
        }
    }
    write_orphans(&m);
    ec_log(EC_LOG_INFO, "master", "stopped");
    ec_app_free(m.app);
    return 0;
}
