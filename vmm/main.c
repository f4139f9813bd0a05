/* torpor-vmm: one process per microVM. Config in, VM built, run until it stops. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "arch/arch.h"
#include "config.h"
#include "evloop.h"
#include "log.h"
#include "snapshot/memfile.h"
#include "snapshot/snapshot.h"
#include "vcpu.h"
#include "vm.h"

/* Exit statuses, documented in --help and docs/config.md. */
enum {
	EXIT_OK = 0,    /* guest powered off, or stopped on request */
	EXIT_ERROR = 1, /* bad config or a host-side failure */
	EXIT_CRASH = 2, /* the guest crashed or KVM could not run it */
};

struct vmm {
	struct vm *vm;
	int sigfd;
	struct termios saved_tty;
	bool tty_raw;
};

static void on_signal(void *opaque, uint32_t events)
{
	struct vmm *vmm = opaque;
	struct signalfd_siginfo si;

	if (read(vmm->sigfd, &si, sizeof(si)) != sizeof(si))
		return;
	pr_info("signal %u: stopping the VM", si.ssi_signo);
	if (vmm->vm)
		vm_request_stop(vmm->vm, VM_EXIT_STOP);
}

/* Termination signals arrive through a signalfd on the I/O loop; vCPU threads never see them. */
static int setup_signals(struct vmm *vmm, struct evloop *el)
{
	sigset_t set;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	rc = vcpu_signals_init();
	if (rc < 0)
		return rc;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -EINVAL;
	vmm->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vmm->sigfd < 0)
		return -errno;
	return evloop_add(el, vmm->sigfd, EPOLLIN, on_signal, vmm);
}

/* Each vsock stream and control connection is an fd: lift the soft limit to the hard one. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			pr_warn("cannot raise the open-file limit: %s", strerror(errno));
	}
}

/* A terminal on stdin goes raw so keys reach the guest; ^C still stops the VMM. */
static void tty_raw(struct vmm *vmm, const struct vm_config *cfg)
{
	struct termios t;

	if (!cfg->console_input || !isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &t))
		return;
	vmm->saved_tty = t;
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | IEXTEN);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (!tcsetattr(STDIN_FILENO, TCSANOW, &t))
		vmm->tty_raw = true;
}

static void tty_restore(struct vmm *vmm)
{
	if (vmm->tty_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &vmm->saved_tty);
}

/*
 * Build and run VMs from cfg until one ends for good (the first from the
 * snapshot rs, if any); returns the exit status.
 */
static int run(struct vmm *vmm, const struct vm_config *cfg, struct evloop *el,
	       struct snapshot_restore *rs)
{
	for (;;) {
		enum vm_exit_reason reason;
		int rc = vm_build(cfg, el, rs, &vmm->vm);

		rs = NULL; /* a reset boots the saved config's kernel afresh */
		if (rc < 0)
			return EXIT_ERROR;
		if (cfg->dump_dtb) {
			rc = arch_dump_dtb(vmm->vm, cfg->dump_dtb);
			vm_destroy(vmm->vm);
			return rc < 0 ? EXIT_ERROR : EXIT_OK;
		}
		reason = vm_run(vmm->vm);
		vm_destroy(vmm->vm);
		vmm->vm = NULL;
		switch (reason) {
		case VM_EXIT_POWEROFF:
		case VM_EXIT_STOP:
			return EXIT_OK;
		case VM_EXIT_RESET:
			if (cfg->on_reboot == ON_REBOOT_RESTART) {
				pr_info("restarting the VM (on-reboot=restart)");
				continue;
			}
			pr_info("guest reset: exiting (on-reboot=exit)");
			return EXIT_OK;
		case VM_EXIT_CRASH:
			return EXIT_CRASH;
		default:
			return EXIT_ERROR;
		}
	}
}

/* --restore: the snapshot's config with the command line's overrides, all checked. */
static int load_snapshot(struct vm_config *cfg, struct snapshot_restore **rs)
{
	struct vm_config over = *cfg;
	char err[1024];
	int rc;

	rc = snapshot_load(over.restore, &over, cfg, rs, err, sizeof(err));
	config_free(&over);
	if (rc < 0) {
		fprintf(stderr, "torpor-vmm: error: restore: %s\n", err);
		return rc;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct vm_config cfg;
	struct vmm vmm = { .sigfd = -1 };
	struct snapshot_restore *rs = NULL;
	struct evloop *el;
	char err[512];
	int rc, status;

	if (argc > 1 && (!strcmp(argv[1], "--merge-mem") || !strcmp(argv[1], "--mem-info")))
		return memfile_tool_main(argc - 1, argv + 1);
	config_init(&cfg);
	rc = config_parse_args(&cfg, argc, argv, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "torpor-vmm: error: %s (see --help)\n", err);
		config_free(&cfg);
		return EXIT_ERROR;
	}
	if (rc == CONFIG_HELP || rc == CONFIG_VERSION) {
		config_free(&cfg);
		return EXIT_OK;
	}
	if (cfg.restore) {
		if (load_snapshot(&cfg, &rs) < 0)
			return EXIT_ERROR;
	} else if (config_validate(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "torpor-vmm: error: %s (see --help)\n", err);
		config_free(&cfg);
		return EXIT_ERROR;
	}
	raise_fd_limit();
	rc = evloop_init(&el);
	if (rc < 0)
		die("cannot create the I/O loop: %s", strerror(-rc));
	rc = setup_signals(&vmm, el);
	if (rc < 0)
		die("cannot set up signal handling: %s", strerror(-rc));
	tty_raw(&vmm, &cfg);
	status = run(&vmm, &cfg, el, rs);
	snapshot_restore_free(rs);
	tty_restore(&vmm);
	close(vmm.sigfd);
	evloop_exit(el);
	config_free(&cfg);
	return status;
}
