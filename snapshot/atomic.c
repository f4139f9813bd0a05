/* Crash-safe snapshot files: temporary name, fsync, rename, directory fsync. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot/atomic.h"
#include "snapshot/buf.h"

static int fault_at(const struct snap_file *f, enum snap_step step)
{
	if (f->fault && f->fault->fn)
		return f->fault->fn(f->fault->opaque, step);
	return 0;
}

static void release(struct snap_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f->tmp);
	f->fd = -1;
	f->path = f->tmp = NULL;
}

int snap_file_create(struct snap_file *f, const char *path, const struct snap_fault *fault,
		     char *err, size_t errlen)
{
	int rc;

	f->fd = -1;
	f->fault = fault;
	f->path = strdup(path);
	if (!f->path || asprintf(&f->tmp, "%s.tmp-XXXXXX", path) < 0) {
		f->tmp = NULL;
		release(f);
		return snap_errf(err, errlen, -ENOMEM, "%s: out of memory", path);
	}
	rc = fault_at(f, SNAP_STEP_CREATE);
	if (!rc) {
		f->fd = mkostemp(f->tmp, O_CLOEXEC);
		rc = f->fd < 0 ? -errno : 0;
	}
	if (rc < 0) {
		snap_errf(err, errlen, rc, "%s: cannot create a temporary file: %s", path,
			  strerror(-rc));
		release(f);
	}
	return rc;
}

int snap_file_truncate(struct snap_file *f, uint64_t size, char *err, size_t errlen)
{
	int rc = fault_at(f, SNAP_STEP_TRUNCATE);

	if (!rc && size > (uint64_t)LLONG_MAX)
		rc = -EFBIG;
	if (!rc && ftruncate(f->fd, (off_t)size) < 0)
		rc = -errno;
	if (rc < 0)
		return snap_errf(err, errlen, rc, "%s: cannot size to %llu bytes: %s", f->tmp,
				 (unsigned long long)size, strerror(-rc));
	return 0;
}

int snap_file_pwrite(struct snap_file *f, const void *buf, size_t len, uint64_t off, char *err,
		     size_t errlen)
{
	const uint8_t *p = buf;
	ssize_t n = 0;
	int rc;

	while (len) {
		rc = fault_at(f, SNAP_STEP_WRITE);
		if (!rc && off > (uint64_t)LLONG_MAX - len)
			rc = -EFBIG;
		if (!rc) {
			n = pwrite(f->fd, p, len, (off_t)off);
			if (n < 0 && errno == EINTR)
				continue;
			rc = n < 0 ? -errno : n == 0 ? -EIO : 0;
		}
		if (rc < 0)
			return snap_errf(err, errlen, rc, "%s: write at %llu: %s", f->tmp,
					 (unsigned long long)off, strerror(-rc));
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

/* fsync the directory holding path, so the rename survives a crash. */
static int fsync_dir(const struct snap_file *f)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(f->path, '/');
	int fd, rc;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == f->path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - f->path), f->path);
	rc = fault_at(f, SNAP_STEP_FSYNC_DIR);
	if (rc < 0)
		return rc;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int snap_file_commit(struct snap_file *f, char *err, size_t errlen)
{
	int rc = fault_at(f, SNAP_STEP_FSYNC);

	if (!rc && fsync(f->fd) < 0)
		rc = -errno;
	if (rc < 0) {
		snap_errf(err, errlen, rc, "%s: fsync: %s", f->tmp, strerror(-rc));
		snap_file_abort(f);
		return rc;
	}
	rc = fault_at(f, SNAP_STEP_RENAME);
	if (!rc && rename(f->tmp, f->path) < 0)
		rc = -errno;
	if (rc < 0) {
		snap_errf(err, errlen, rc, "%s: rename to %s: %s", f->tmp, f->path, strerror(-rc));
		snap_file_abort(f);
		return rc;
	}
	rc = fsync_dir(f);
	if (rc < 0)
		snap_errf(err, errlen, rc, "%s: fsync of its directory: %s", f->path,
			  strerror(-rc));
	release(f);
	return rc;
}

void snap_file_abort(struct snap_file *f)
{
	if (f->tmp)
		unlink(f->tmp);
	release(f);
}

int snap_file_write_all(const char *path, const void *buf, size_t len,
			const struct snap_fault *fault, char *err, size_t errlen)
{
	struct snap_file f;
	int rc;

	rc = snap_file_create(&f, path, fault, err, errlen);
	if (rc < 0)
		return rc;
	rc = snap_file_pwrite(&f, buf, len, 0, err, errlen);
	if (rc < 0) {
		snap_file_abort(&f);
		return rc;
	}
	return snap_file_commit(&f, err, errlen);
}
