/*
 * fcgi/main.c: `ecd`, the expense-center FastCGI application server.
 *
 *   ecd -c FILE       run the pool (the master stays in the foreground)
 *   ecd -t -c FILE    load the config and every plugin, compile every route, then exit:
 *                     0 when all is well, 1 with the reason on stderr
 *   ecd -v            print the version
 *
 * Startup is one chain of steps, each failing with a message and exit status 1: load the
 * application (settings, plugins, routes, schemas), open the log, open the listen socket,
 * write the pid file, map the scoreboard, run the master.
 */
#include "config.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/password_gate.h"
#include "fcgi/app.h"
#include "fcgi/listen.h"
#include "fcgi/master.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: ecd -c FILE [-t]\n"
               "       ecd -v\n"
               "  -c FILE  the configuration file\n"
               "  -t       test the configuration and plugins, then exit\n"
               "  -v       print the version and the plugin ABI, then exit\n");
}

static int write_pid_file(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "%ld\n", (long)getpid());
    return fclose(f);
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    int test_only = 0;
    int opt;
    while ((opt = getopt(argc, argv, "c:tvh")) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 't': test_only = 1; break;
        case 'v':
            printf("ecd %s (plugin ABI %u)\n", PACKAGE_VERSION, EC_PLUGIN_ABI_VERSION);
            return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (config_path == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }

    /* glibc raises its mmap threshold to the size of the largest mmapped block freed so far:
     * after the first login's Argon2 buffer (7 MiB, core/password.h), the next one comes from
     * the heap, whose trim threshold is raised too, and stays resident in every worker that
     * verified a password. A fixed threshold keeps blocks from 1 MiB up mmapped and returned
     * to the system when freed (docs/benchmarks.md, "Memory": nothing stays after a login). */
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);

    ec_error err = {0};
    ec_app *app = ec_app_load(config_path, &err);
    if (app == NULL) {
        fprintf(stderr, "ecd: %s\n", err.message);
        return 1;
    }
    if (test_only) {
        printf("ecd: configuration %s is ok: %zu plugins, %zu routes\n", config_path,
               app->nplugins - 1, ec_router_count(app->router));
        ec_app_free(app);
        return 0;
    }
    const ec_settings *s = app->settings;
    if (ec_log_open(s->log_file) < 0) {
        fprintf(stderr, "ecd: cannot open log %s: %s\n", s->log_file, strerror(errno));
        ec_app_free(app);
        return 1;
    }
    ec_log_set_level(s->log_level);
    int fd = ec_listen_open(s->listen, s->listen_backlog, &err);
    if (fd < 0) {
        fprintf(stderr, "ecd: %s\n", err.message);
        ec_app_free(app);
        return 1;
    }
    char *listen_path = strdup(s->listen);
    char *pid_path = s->pid_file ? strdup(s->pid_file) : NULL;
    if (pid_path && write_pid_file(pid_path) < 0) {
        fprintf(stderr, "ecd: cannot write pid file %s: %s\n", pid_path, strerror(errno));
        ec_app_free(app);
        return 1;
    }
    /* libcurl's global set-up is not fork- or thread-safe: once, here, before the pool. */
    if (ec_http_global_init() < 0) {
        fprintf(stderr, "ecd: cannot initialise libcurl\n");
        ec_app_free(app);
        return 1;
    }
    ec_scoreboard *sb = ec_scoreboard_create();
    if (sb == NULL) {
        fprintf(stderr, "ecd: cannot map the scoreboard: %s\n", strerror(errno));
        ec_app_free(app);
        return 1;
    }
    /* Each Argon2id computation holds its memory cost while it runs: the gate bounds how many
     * the pool runs at once, so its peak is W idle workers plus slots times that cost. */
    if (ec_password_gate_open((unsigned)s->password_hash_slots) < 0) {
        fprintf(stderr, "ecd: cannot map the password gate: %s\n", strerror(errno));
        ec_scoreboard_destroy(sb);
        ec_app_free(app);
        return 1;
    }
    int rc = ec_master_run(config_path, app, sb, fd);
    close(fd);
    if (listen_path)
        unlink(listen_path);
    if (pid_path)
        unlink(pid_path);
    free(listen_path);
    free(pid_path);
    ec_scoreboard_destroy(sb);
    ec_password_gate_close();
    ec_log_close();
    return rc;
}
