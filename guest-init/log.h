/* guest-init's console messages: one "torpor-init: ..." line per call, in one write(2). */
#ifndef TORPOR_GUEST_INIT_LOG_H
#define TORPOR_GUEST_INIT_LOG_H

enum init_log_level { INIT_LOG_ERR, INIT_LOG_WARN, INIT_LOG_INFO };

/*
 * Write "torpor-init: [error: |warning: ]<message>\n": info to stdout, the
 * others to stderr (all the console once console_setup() ran). Messages are
 * cut to fit one line of 512 bytes. If stderr is not open (no console yet),
 * errors and warnings go to /dev/kmsg so the kernel prints them.
 */
void init_log(enum init_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define pr_err(...)  init_log(INIT_LOG_ERR, __VA_ARGS__)
#define pr_warn(...) init_log(INIT_LOG_WARN, __VA_ARGS__)
#define pr_info(...) init_log(INIT_LOG_INFO, __VA_ARGS__)

#endif
