/* The I/O thread's epoll loop: fd callbacks and an eventfd to stop it. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"

#define EVLOOP_MAX_FDS 256

struct watch {
	int fd; /* -1 when free */
	evloop_cb cb;
	void *opaque;
};

struct evloop {
	int epfd;
	int stopfd;
	bool stopping;
	struct watch watches[EVLOOP_MAX_FDS];
};

int evloop_init(struct evloop **out)
{
	struct evloop *el;
	struct epoll_event ev = { .events = EPOLLIN };
	int rc;

	el = calloc(1, sizeof(*el));
	if (!el)
		return -ENOMEM;
	for (int i = 0; i < EVLOOP_MAX_FDS; i++)
		el->watches[i].fd = -1;
	el->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (el->epfd < 0) {
		rc = -errno;
		goto err_free;
	}
	el->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (el->stopfd < 0) {
		rc = -errno;
		goto err_epoll;
	}
	ev.data.ptr = NULL; /* NULL marks the stop eventfd */
	if (epoll_ctl(el->epfd, EPOLL_CTL_ADD, el->stopfd, &ev) < 0) {
		rc = -errno;
		goto err_stopfd;
	}
	*out = el;
	return 0;

err_stopfd:
	close(el->stopfd);
err_epoll:
	close(el->epfd);
err_free:
	free(el);
	return rc;
}

void evloop_exit(struct evloop *el)
{
	if (!el)
		return;
	close(el->stopfd);
	close(el->epfd);
	free(el);
}

static struct watch *find_watch(struct evloop *el, int fd)
{
	for (int i = 0; i < EVLOOP_MAX_FDS; i++)
		if (el->watches[i].fd == fd)
			return &el->watches[i];
	return NULL;
}

int evloop_add(struct evloop *el, int fd, uint32_t events, evloop_cb cb, void *opaque)
{
	struct watch *w = find_watch(el, -1);
	struct epoll_event ev = { .events = events };

	if (fd < 0)
		return -EBADF;
	if (!w)
		return -EMFILE;
	ev.data.ptr = w;
	if (epoll_ctl(el->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	w->fd = fd;
	w->cb = cb;
	w->opaque = opaque;
	return 0;
}

int evloop_mod(struct evloop *el, int fd, uint32_t events)
{
	struct watch *w = find_watch(el, fd);
	struct epoll_event ev = { .events = events };

	if (fd < 0 || !w)
		return -ENOENT;
	ev.data.ptr = w;
	if (epoll_ctl(el->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int evloop_del(struct evloop *el, int fd)
{
	struct watch *w = find_watch(el, fd);

	if (fd < 0 || !w)
		return -ENOENT;
	epoll_ctl(el->epfd, EPOLL_CTL_DEL, fd, NULL);
	/* A pending event for this slot in the current batch is skipped by the fd check. */
	w->fd = -1;
	w->cb = NULL;
	return 0;
}

int evloop_run(struct evloop *el)
{
	struct epoll_event evs[32];

	el->stopping = false;
	while (!el->stopping) {
		int n = epoll_wait(el->epfd, evs, 32, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !el->stopping; i++) {
			struct watch *w = evs[i].data.ptr;

			if (!w) {
				uint64_t v;

				if (read(el->stopfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					pr_warn("evloop: stop eventfd read: %d", errno);
				el->stopping = true;
				break;
			}
			if (w->fd >= 0 && w->cb)
				w->cb(w->opaque, evs[i].events);
		}
	}
	return 0;
}

void evloop_stop(struct evloop *el)
{
	uint64_t one = 1;

	if (write(el->stopfd, &one, sizeof(one)) < 0)
		pr_warn("evloop: stop eventfd write: %d", errno);
}
