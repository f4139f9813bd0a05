/* guest-init, the guest's PID 1: boot setup, the agent, torpor.run, the app or a shell, power off. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdnoreturn.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "appcfg.h"
#include "clock.h"
#include "agent.h"
#include "cmdline.h"
#include "console.h"
#include "log.h"
#include "mounts.h"
#include "netcfg.h"
#include "power.h"
#include "procfs.h"
#include "run_agent.h"
#include "spawn.h"
#include "supervise.h"

#ifndef TORPOR_VERSION
#define TORPOR_VERSION "unknown"
#endif

#define CMDLINE_READ_MAX 4096 /* twice the arm64 COMMAND_LINE_SIZE */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: guest-init [--help | --version]\n"
		"\n"
		"The init (PID 1) of a torpor guest, started by the kernel as /init.\n"
		"It mounts /dev, /proc, /sys, /tmp, /run, /dev/pts and /dev/shm, makes\n"
		"/dev/console its stdin/stdout/stderr, sets the host name and brings up\n"
		"lo and eth0 (torpor.hostname=, torpor.ip=A.B.C.D/N, torpor.gw=,\n"
		"torpor.dns=), prints\n"
		"  torpor-init: ready uptime_ms=<n>\n"
		"and starts the vsock agent (restarted if it dies). Then it runs the\n"
		"torpor.run=<command> kernel parameter with /bin/sh -c; without it, the\n"
		"app of %s (output prefixed \"app: \", restarted by its\n"
		"policy, the guest stays up); without either, an interactive /bin/sh.\n"
		"When the command or shell ends it prints\n"
		"  torpor-init: exit status=<n>   or   torpor-init: exit signal=<n>\n"
		"stops the remaining processes and powers off. SIGTERM, SIGINT or SIGPWR\n"
		"to PID 1 stops the command (SIGTERM, %d s grace) or the app (its stop\n"
		"signal and grace) and powers off. See docs/guest-init.md.\n"
		"\n"
		"Run as anything but PID 1 it only prints this help or exits with 1.\n",
		APPCFG_PATH, SUPERVISE_STOP_GRACE_MS / 1000);
}

/* Not PID 1: only --help and --version work. */
static int run_as_program(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--version")) {
		printf("guest-init %s\n", TORPOR_VERSION);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--agent"))
		agent_main(); /* hidden: the vsock agent by hand (tests), until PID 1 starts it */
	fprintf(stderr,
		"guest-init: error: running as pid %d, not 1: guest-init is the guest's init and "
		"only runs as PID 1 (see --help)\n",
		(int)getpid());
	return 1;
}

static void setup_env(void)
{
	static const char *const env[][2] = {
		{ "PATH", "/bin:/sbin:/usr/bin:/usr/sbin" },
		{ "HOME", "/root" },
		{ "TERM", "linux" },
	};

	for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
		if (setenv(env[i][0], env[i][1], 1) < 0)
			pr_warn("setenv %s: %s", env[i][0], strerror(errno));
}

/* Read and parse /proc/cmdline into *cl; any failure is fatal. */
static void read_cmdline(struct cmdline *cl)
{
	char buf[CMDLINE_READ_MAX];
	size_t len;
	int rc;

	rc = procfs_read("/proc/cmdline", buf, sizeof(buf), &len);
	if (rc == -E2BIG)
		init_fatal("/proc/cmdline: longer than %d bytes", CMDLINE_READ_MAX - 1);
	if (rc < 0)
		init_fatal("/proc/cmdline: %s", strerror(-rc));
	if (len && buf[len - 1] == '\n')
		len--; /* added by procfs; not part of the command line */
	rc = cmdline_parse(buf, len, cl);
	if (rc == -E2BIG)
		init_fatal("torpor.run: longer than %d bytes", CMDLINE_RUN_MAX - 1);
}

static void announce_ready(void)
{
	uint64_t ms = 0;

	procfs_uptime_ms(&ms);
	pr_info("ready uptime_ms=%" PRIu64, ms);
}

/* Read app.json into *app (not started). False without a file, or with a bad one (said why). */
static bool load_app(struct app *app, const sigset_t *child_mask)
{
	struct appcfg cfg;
	char err[512];
	int rc;

	rc = appcfg_load(APPCFG_PATH, &cfg, err, sizeof(err));
	if (rc < 0) {
		if (rc != -ENOENT)
			pr_err("%s; no app (a shell on the console instead)", err);
		appcfg_free(&cfg);
		return false;
	}
	rc = app_init(app, &cfg, child_mask);
	if (rc < 0)
		pr_err("app: pipes and console: %s; no app (a shell on the console instead)",
		       strerror(-rc));
	return rc == 0;
}

noreturn static void run_init(void)
{
	static struct cmdline cl;
	static struct app app;
	static struct run_agent agent;
	static sigset_t child_mask;
	struct supervise_cfg sc = { .agent = &agent };
	bool has_app;
	int sfd, dev_rc, rc;
	pid_t pid;

	sfd = supervise_signals(&child_mask); /* first, so no stop request is lost */
	dev_rc = mounts_dev();
	rc = console_setup();
	if (rc < 0)
		init_fatal("/dev/console: %s", strerror(-rc));
	if (dev_rc < 0)
		pr_warn("mount devtmpfs on /dev: %s", strerror(-dev_rc));
	if (sfd < 0)
		init_fatal("signalfd: %s", strerror(-sfd));
	sc.sfd = sfd;
	mounts_rest();
	setup_env();
	read_cmdline(&cl);
	mounts_root_rw(cl.root_ro);
	if (cl.too_long)
		pr_warn("%s: longer than %d bytes; ignored", cl.too_long, CMDLINE_VAL_MAX - 1);
	netcfg_apply(cl.hostname, cl.ip, cl.gw, cl.dns);
	has_app = !cl.has_run && load_app(&app, &child_mask);
	announce_ready();
	run_agent_init(&agent, &child_mask);
	run_agent_start(&agent, clock_now_ms());
	if (has_app) {
		rc = app_start(&app, clock_now_ms());
		if (rc < 0)
			init_fatal("app: fork: %s", strerror(-rc));
		sc.app = &app;
	} else {
		pid = spawn_main(cl.has_run ? cl.run : NULL, &child_mask);
		if (pid < 0)
			init_fatal("fork: %s", strerror(-pid));
		sc.main_pid = pid;
		sc.interactive = !cl.has_run;
	}
	supervise(&sc);
}

int main(int argc, char **argv)
{
	if (getpid() != 1)
		return run_as_program(argc, argv);
	run_init();
}
