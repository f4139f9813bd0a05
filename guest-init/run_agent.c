/* The vsock agent as a child of PID 1: started when there is a vsock device, restarted if it dies. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h> /* before linux/vm_sockets.h, which needs struct sockaddr */
#include <linux/vm_sockets.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "run_agent.h"

/* The guest's vsock CID, or VMADDR_CID_ANY if it has no virtio-vsock device. */
static unsigned local_cid(void)
{
	unsigned cid = VMADDR_CID_ANY;
	int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return VMADDR_CID_ANY;
	if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
		cid = VMADDR_CID_ANY;
	close(fd);
	return cid;
}

void run_agent_init(struct run_agent *ra, const sigset_t *child_mask)
{
	memset(ra, 0, sizeof(*ra));
	ra->child_mask = child_mask;
	respawn_init(&ra->respawn, RUN_AGENT_BACKOFF_BASE_MS, RUN_AGENT_BACKOFF_MAX_MS,
		     RUN_AGENT_BACKOFF_RESET_MS);
	/* No vsock device: nobody could reach the agent. */
	ra->enabled = local_cid() != VMADDR_CID_ANY;
}

void run_agent_start(struct run_agent *ra, int64_t now)
{
	pid_t pid;

	if (!ra->enabled || ra->stopping || ra->pid > 0)
		return;
	pid = fork();
	if (pid < 0) {
		pr_err("agent: fork: %s; retrying in %u ms", strerror(errno),
		       respawn_exited(&ra->respawn, now));
		return;
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, ra->child_mask, NULL);
		setsid();
		close_range(3, ~0U, 0); /* PID 1's signalfd and the app's pipes are not the agent's */
		agent_main();
	}
	ra->pid = pid;
	respawn_started(&ra->respawn, now);
}

bool run_agent_reaped(struct run_agent *ra, pid_t pid, int status, int64_t now)
{
	if (pid <= 0 || pid != ra->pid)
		return false;
	ra->pid = 0;
	if (ra->stopping)
		return true;
	if (WIFEXITED(status))
		pr_warn("agent exited status=%d; restarting in %u ms", WEXITSTATUS(status),
			respawn_exited(&ra->respawn, now));
	else
		pr_warn("agent exited signal=%d; restarting in %u ms", WTERMSIG(status),
			respawn_exited(&ra->respawn, now));
	return true;
}

void run_agent_tick(struct run_agent *ra, int64_t now)
{
	if (!ra->stopping && respawn_due(&ra->respawn, now))
		run_agent_start(ra, now);
}

int64_t run_agent_deadline(const struct run_agent *ra)
{
	return ra->stopping ? -1 : ra->respawn.due_ms;
}

void run_agent_stop(struct run_agent *ra)
{
	ra->stopping = true;
	respawn_cancel(&ra->respawn);
}
