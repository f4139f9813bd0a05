/* The guest agent: docs/agent-protocol.md over AF_VSOCK port AGENT_VSOCK_PORT. */
#ifndef TORPOR_GUEST_INIT_AGENT_H
#define TORPOR_GUEST_INIT_AGENT_H

#include <stdnoreturn.h>

/*
 * Run the agent in the calling process (a child of PID 1, or any process
 * with root privileges): listen on vsock port 1024 and serve connections
 * until killed. It is the parent of every process it starts and reaps them
 * itself. It exits (status 1, after one "torpor-init: error:" line) only if
 * its event loop cannot be set up; whoever started it may start it again.
 */
noreturn void agent_main(void);

#endif
