/*
 * log — level-checked, one line per event on stderr:
 *   2026-11-27T15:20:08.123Z INFO [rid] message key=value
 * The level is the one piece of process-wide state (main waits for signals with sigwait,
 * so no flag is shared with a handler).
 * Never log report bodies, tokens or full client addresses.
 */
#ifndef LOG_H
#define LOG_H

#include "base/err.h"

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "error", "warn", "info", "debug" -> level; -1 when unknown. */
int log_level_from_name(const char *name);

/* rid may be NULL. Formats and writes the line in one write(2) so threads do not interleave. */
void log_write(enum log_level level, const char *rid, const char *fmt, ...) ERR_PRINTF(3, 4);

#define LOG_AT(lvl, rid, ...)                                                                      \
    do {                                                                                           \
        if ((lvl) <= log_get_level())                                                              \
            log_write((lvl), (rid), __VA_ARGS__);                                                  \
    } while (0)
#define log_error(...) LOG_AT(LOG_LEVEL_ERROR, NULL, __VA_ARGS__)
#define log_warn(...)  LOG_AT(LOG_LEVEL_WARN, NULL, __VA_ARGS__)
#define log_info(...)  LOG_AT(LOG_LEVEL_INFO, NULL, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_LEVEL_DEBUG, NULL, __VA_ARGS__)

#endif
