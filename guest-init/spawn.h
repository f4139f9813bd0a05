/* Starting the main child: the torpor.run command, or an interactive shell, on the console. */
#ifndef TORPOR_GUEST_INIT_SPAWN_H
#define TORPOR_GUEST_INIT_SPAWN_H

#include <signal.h>
#include <sys/types.h>

#define SPAWN_SHELL "/bin/sh"

/*
 * Fork a child that restores the signal mask child_mask, starts a new
 * session (setsid), takes the console (fd 0, already fds 0-2) as its
 * controlling tty and execs "/bin/sh -c cmd", or an interactive "/bin/sh"
 * when cmd is NULL. If exec fails the child prints one line and exits 127.
 * Returns the child's pid, or -errno if fork failed.
 */
pid_t spawn_main(const char *cmd, const sigset_t *child_mask);

#endif
