/* Logging for torpor-vmm: leveled messages on stderr, die() before the guest runs. */
#ifndef TORPOR_LOG_H
#define TORPOR_LOG_H

#include <stdnoreturn.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Messages above this level are dropped. Default LOG_INFO. */
extern int log_level;

/* Parse "error", "warn", "info" or "debug"; returns the level or -EINVAL. */
int log_level_parse(const char *name);

void log_printf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Log and exit(1). Only before the guest runs. */
noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define pr_err(...)   log_printf(LOG_ERR, __VA_ARGS__)
#define pr_warn(...)  log_printf(LOG_WARN, __VA_ARGS__)
#define pr_info(...)  log_printf(LOG_INFO, __VA_ARGS__)
#define pr_debug(...) log_printf(LOG_DEBUG, __VA_ARGS__)

#endif
