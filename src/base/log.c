#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* Process-wide by design (see header); written once at start-up. */
static volatile int log_level_current = LOG_LEVEL_INFO;

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void log_set_level(enum log_level level)
{
    log_level_current = (int)level;
}

enum log_level log_get_level(void)
{
    return (enum log_level)log_level_current;
}

int log_level_from_name(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    }
    if (strcasecmp(name, "warning") == 0)
        return LOG_LEVEL_WARN;
    return -1;
}

void log_write(enum log_level level, const char *rid, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level]);
    if (rid != NULL && n < (int)sizeof(line))
        n += snprintf(line + n, sizeof(line) - (size_t)n, "[%s] ", rid);
    if (n < (int)sizeof(line)) {
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if (n >= (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 2;
    /* One line, no embedded newlines: a message cannot forge another log line. */
    for (int i = 0; i < n; i++) {
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    }
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}
