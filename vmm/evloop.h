/* The I/O thread's epoll loop: fds with callbacks, a thread-safe stop. */
#ifndef TORPOR_EVLOOP_H
#define TORPOR_EVLOOP_H

#include <stdint.h>

struct evloop;
typedef void (*evloop_cb)(void *opaque, uint32_t events);

int evloop_init(struct evloop **out);
void evloop_exit(struct evloop *el);

/* Watch fd for epoll events; cb runs on the loop's thread. Returns 0 or -errno. */
int evloop_add(struct evloop *el, int fd, uint32_t events, evloop_cb cb, void *opaque);
int evloop_mod(struct evloop *el, int fd, uint32_t events);
/* Stop watching fd (does not close it). Safe to call from inside a callback. */
int evloop_del(struct evloop *el, int fd);

/* Run callbacks until evloop_stop(). Returns 0 or -errno. */
int evloop_run(struct evloop *el);
/* Make evloop_run() return. Safe from any thread. */
void evloop_stop(struct evloop *el);

#endif
