/* The end of the guest: power off, and the fatal-error path (PID 1 must never exit). */
#ifndef TORPOR_GUEST_INIT_POWER_H
#define TORPOR_GUEST_INIT_POWER_H

#include <stdnoreturn.h>

/*
 * sync() and reboot(RB_POWER_OFF). If the kernel refuses, print why, try
 * RB_HALT_SYSTEM, then sleep forever: PID 1 never returns or exits (its exit
 * panics the kernel).
 */
noreturn void power_off(void);

/* Print "torpor-init: error: <message>", SIGKILL every other process, power off. */
noreturn void init_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
