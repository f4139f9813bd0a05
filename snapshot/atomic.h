/*
 * Crash-safe snapshot files: written under a temporary name in the target's
 * directory, fsynced, renamed over the target, directory fsynced. Until the
 * rename the target (an older snapshot) is untouched; a failure removes the
 * temporary file.
 */
#ifndef TORPOR_SNAP_ATOMIC_H
#define TORPOR_SNAP_ATOMIC_H

#include <stddef.h>
#include <stdint.h>

/* The steps a write goes through, for fault injection in tests. */
enum snap_step {
	SNAP_STEP_CREATE,    /* creating the temporary file */
	SNAP_STEP_TRUNCATE,  /* setting its size (sparse files) */
	SNAP_STEP_WRITE,     /* each pwrite() */
	SNAP_STEP_FSYNC,     /* fsync of the file */
	SNAP_STEP_RENAME,    /* rename over the target */
	SNAP_STEP_FSYNC_DIR, /* fsync of the directory, after the rename */
};

/*
 * Test hook: fn is called before each step; a negative return (-errno) makes
 * that step fail as if the system call had. Writers take NULL in production.
 */
struct snap_fault {
	int (*fn)(void *opaque, enum snap_step step);
	void *opaque;
};

/* A file being written; see snap_file_create(). */
struct snap_file {
	int fd;
	char *path; /* the target */
	char *tmp;  /* "<path>.tmp-XXXXXX", removed unless committed */
	const struct snap_fault *fault;
};

/*
 * Create a temporary file (mode 0600) beside path, to become path on
 * snap_file_commit(). Returns 0 or -errno with err set.
 */
int snap_file_create(struct snap_file *f, const char *path, const struct snap_fault *fault,
		     char *err, size_t errlen);
/* Set the file's size (new bytes read as zero and take no space). 0 or -errno. */
int snap_file_truncate(struct snap_file *f, uint64_t size, char *err, size_t errlen);
/* Write all of buf at off (retrying short writes and EINTR). 0 or -errno. */
int snap_file_pwrite(struct snap_file *f, const void *buf, size_t len, uint64_t off, char *err,
		     size_t errlen);
/*
 * fsync, rename over the target, fsync the directory, close. On any failure
 * before the rename the temporary file is removed and the target untouched;
 * if only the directory fsync fails the new file is in place (complete) and
 * -errno is returned because its durability is unknown. Either way f is
 * released. 0 or -errno with err set.
 */
int snap_file_commit(struct snap_file *f, char *err, size_t errlen);
/* Close and remove the temporary file; the target is untouched. */
void snap_file_abort(struct snap_file *f);

/*
 * Write buf as the whole of path, crash-safely (create, write, commit).
 * 0 or -errno with err set.
 */
int snap_file_write_all(const char *path, const void *buf, size_t len,
			const struct snap_fault *fault, char *err, size_t errlen);

#endif
