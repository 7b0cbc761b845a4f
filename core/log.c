/* core/log.c: the append-only process log (see log.h). */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = STDERR_FILENO;
static char *log_path;
static int log_level = EC_LOG_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

static int open_path(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int ec_log_open(const char *path)
{
    if (path == NULL || strcmp(path, "stderr") == 0) {
        ec_log_close();
        return 0;
    }
    int fd = open_path(path);
    if (fd < 0)
        return -1;
    char *copy = strdup(path);
    if (copy == NULL) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    ec_log_close();
    log_fd = fd;
    log_path = copy;
    return 0;
}

void ec_log_reopen(void)
{
    if (log_path == NULL)
        return;
    int fd = open_path(log_path);
    if (fd < 0) {
        ec_log(EC_LOG_ERROR, "log", "cannot reopen %s: %s", log_path, strerror(errno));
        return;
    }
    dup2(fd, log_fd);
    close(fd);
}

void ec_log_close(void)
{
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = STDERR_FILENO;
    free(log_path);
    log_path = NULL;
}

void ec_log_set_level(int level)
{
    log_level = level;
}

void ec_vlog(int level, const char *who, const char *fmt, va_list ap)
{
    if (level > log_level)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%ld] %s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, (long)getpid(),
                     level_names[level < 0   ? 0
                                 : level > 3 ? 3
                                             : level],
                     who ? who : "ecd");
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    size_t len = m < 0 ? (size_t)n : (size_t)n + (size_t)m;
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* truncated: keep one line */
    /* A message never spans lines: control characters would let input forge log lines. */
    for (size_t i = (size_t)n; i < len; i++)
        if ((unsigned char)line[i] < 0x20)
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w = write(log_fd, line, len);
    (void)w;
}

void ec_log(int level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ec_vlog(level, who, fmt, ap);
    va_end(ap);
}
