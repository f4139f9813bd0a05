/* The console: /dev/console as fds 0, 1 and 2, and as a session's controlling tty. */
#ifndef TORPOR_GUEST_INIT_CONSOLE_H
#define TORPOR_GUEST_INIT_CONSOLE_H

/*
 * Open /dev/console and make it fds 0, 1 and 2 (without FD_CLOEXEC, so
 * children inherit it). If /dev/console is missing (no devtmpfs), create
 * the node (char 5:1) first. PID 1 does not take it as controlling tty.
 * Returns 0 or -errno.
 */
int console_setup(void);

/*
 * Make the console (fd 0) the controlling tty of the caller, which must be
 * a session leader without one (call right after setsid()). Returns 0 or -errno.
 */
int console_take_ctty(void);

#endif
