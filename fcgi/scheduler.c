/* fcgi/scheduler.c: plugins' commands on a timer, from the master (see scheduler.h). */
#include "fcgi/scheduler.h"

#include "core/db.h"
#include "core/log.h"
#include "core/prune.h"
#include "fcgi/batch.h"
#include "fcgi/scoreboard.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static ec_scheduled *find_job(ec_scheduler *s, const char *plugin)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->jobs[i].plugin, plugin) == 0)
            return &s->jobs[i];
    return NULL;
}

void ec_scheduler_load(ec_scheduler *s, const ec_app *app)
{
    ec_scheduler old = *s;
    s->n = 0;
    for (size_t i = 0; app && i < app->nplugins && s->n < EC_MAX_PLUGINS; i++) {
        const ec_plugin *p = app->plugins[i].plugin;
        long long every = 0;
        ec_error err = {0};
        if (p == NULL || ec_batch_find(app, p->name) == NULL ||
            ec_config_int(app->settings->config, p->name, "schedule_seconds", 0, 7 * 86400, 0,
                          &every, &err) < 0 ||
            every == 0)
            continue;
        ec_scheduled *j = &s->jobs[s->n++];
        const ec_scheduled *was = find_job(&old, p->name);
        *j = (ec_scheduled){.every_ms = every * 1000};
        snprintf(j->plugin, sizeof j->plugin, "%s", p->name);
        /* The first run waits one period (a restarting master does not run it each time);
         * a reload keeps a running child and its next start. */
        j->pid = was ? was->pid : 0;
        j->next_ms = was ? was->next_ms : ec_now_mono_ms() + j->every_ms;
        ec_log(EC_LOG_INFO, "master", "scheduled: %s run every %lld s", j->plugin, every);
    }
    if (app && app->settings->prune_seconds > 0) {
        ec_scheduled *j = &s->jobs[s->n++];
        const ec_scheduled *was = find_job(&old, "prune");
        *j = (ec_scheduled){.every_ms = app->settings->prune_seconds * 1000, .prune = 1};
        snprintf(j->plugin, sizeof j->plugin, "prune");
        j->pid = was ? was->pid : 0;
        j->next_ms = was ? was->next_ms : ec_now_mono_ms() + j->every_ms;
        ec_log(EC_LOG_INFO, "master", "scheduled: prune every %lld s",
               app->settings->prune_seconds);
    }
    /* Children of schedules that went away are still reaped: they end by themselves. */
}

/* The retention job in the child: a database client of its own, the rules, one run. */
static int run_prune(const ec_app *app)
{
    ec_error err = {0};
    ec_db *db = ec_db_new(app->settings->mongodb_uri, app->settings->database, "ecd-prune", &err);
    if (db == NULL) {
        ec_log(EC_LOG_ERROR, "prune", "%s", err.message);
        return 1;
    }
    ec_prune_rule rules[16];
    size_t n = ec_prune_rules(app->settings->config, rules, 16);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* site tokens expire by the wall clock */
    ec_status st =
        ec_prune_run(db, rules, n, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, NULL);
    ec_db_free(db);
    return st == EC_OK ? 0 : 1;
}

static void run_child(ec_app *app, const ec_scheduled *job)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_IGN);
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the master */
    char run[] = "run";
    char *argv[] = {run, NULL};
    int rc = job->prune ? run_prune(app) : ec_batch_run(app, job->plugin, 1, argv);
    fflush(stdout);
    _exit(rc);
}

void ec_scheduler_tick(ec_scheduler *s, ec_app *app)
{
    int64_t now = ec_now_mono_ms();
    for (size_t i = 0; app && i < s->n; i++) {
        ec_scheduled *j = &s->jobs[i];
        if (j->pid != 0 || now < j->next_ms)
            continue;
        j->next_ms = now + j->every_ms;
        pid_t pid = fork();
        if (pid < 0) {
            ec_log(EC_LOG_ERROR, "master", "cannot fork the scheduled %s run", j->plugin);
            continue;
        }
        if (pid == 0)
            run_child(app, j);
        j->pid = pid;
    }
}

int ec_scheduler_reaped(ec_scheduler *s, pid_t pid, int status)
{
    for (size_t i = 0; i < s->n; i++) {
        ec_scheduled *j = &s->jobs[i];
        if (j->pid != pid)
            continue;
        j->pid = 0;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            ec_log(EC_LOG_DEBUG, "master", "scheduled %s run done", j->plugin);
        else if (WIFSIGNALED(status))
            ec_log(EC_LOG_WARN, "master", "scheduled %s run killed by signal %d", j->plugin,
                   WTERMSIG(status));
        else
            ec_log(EC_LOG_WARN, "master", "scheduled %s run exited with status %d; again in %lld s",
                   j->plugin, WEXITSTATUS(status), (long long)(j->every_ms / 1000));
        return 1;
    }
    return 0;
}

void ec_scheduler_signal(ec_scheduler *s, int sig)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->jobs[i].pid > 0)
            kill(s->jobs[i].pid, sig);
}
