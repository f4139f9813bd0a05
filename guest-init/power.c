/* Powering the guest off, and fatal errors: print one line, power off, never exit. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <termios.h>
#include <unistd.h>

#include "log.h"
#include "power.h"

noreturn void power_off(void)
{
	/* Everything written to the console leaves the UART before the VM ends. */
	tcdrain(STDOUT_FILENO);
	sync();
	reboot(RB_POWER_OFF);
	pr_err("reboot(RB_POWER_OFF): %s; halting", strerror(errno));
	reboot(RB_HALT_SYSTEM);
	pr_err("reboot(RB_HALT_SYSTEM): %s; sleeping forever", strerror(errno));
	for (;;)
		pause();
}

noreturn void init_fatal(const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pr_err("%s; powering off", msg);
	kill(-1, SIGKILL); /* every process but PID 1; no need to reap, the guest is going away */
	power_off();
}
