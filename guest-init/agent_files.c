/* The agent's file ops: atomic write, streamed read, stat, list, remove. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_int.h"
#include "agent_req.h"

#define LIST_MAX       10000
#define LIST_JSON_ROOM (FRAME_MAX_PAYLOAD - 256) /* entries' bytes; the rest is the envelope */
#define RM_FDS	       64

static const char *file_type(mode_t m)
{
	if (S_ISREG(m))
		return "file";
	if (S_ISDIR(m))
		return "dir";
	if (S_ISLNK(m))
		return "link";
	return "other";
}

static bool file_req(struct agent_conn *c, uint32_t id, json_t *req, const char *op,
		     struct req_file *r)
{
	struct req_err e;

	if (!req_file_parse(req, op, r, &e))
		return true;
	conn_reply_error(c, id, EINVAL, "%s: %s", op, e.msg);
	return false;
}

/* ---- file_write: DATA into a temporary file beside path, fsync, rename ---- */

struct fw_stream {
	struct agent_stream s;
	int fd;
	char *path, *tmp; /* tmp is NULL once renamed */
	struct req_file r;
	uint64_t size;
};

static void fw_data(struct agent_stream *s, const uint8_t *p, size_t n)
{
	struct fw_stream *f = container_of(s, struct fw_stream, s);

	while (n) {
		ssize_t w = write(f->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			stream_fail(s, errno, "write %s: %s", f->path, strerror(errno));
			return;
		}
		p += w;
		n -= (size_t)w;
		f->size += (uint64_t)w;
	}
}

/* Owner and mode, data on disk, the name in place, the directory entry on disk. */
static int fw_commit(struct fw_stream *f, const char **what)
{
	char dir[PATH_MAX];
	int dfd, rc = 0;

	*what = "chown";
	if ((f->r.has_uid || f->r.has_gid) &&
	    fchown(f->fd, f->r.has_uid ? f->r.uid : (uid_t)-1, f->r.has_gid ? f->r.gid : (gid_t)-1))
		return -errno;
	*what = "chmod";
	if (fchmod(f->fd, f->r.mode) < 0)
		return -errno;
	*what = "fsync";
	if (fsync(f->fd) < 0)
		return -errno;
	*what = "close";
	rc = close(f->fd);
	f->fd = -1;
	if (rc < 0)
		return -errno;
	*what = "rename";
	if (rename(f->tmp, f->path) < 0)
		return -errno;
	free(f->tmp);
	f->tmp = NULL;
	snprintf(dir, sizeof(dir), "%s", f->path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

static void fw_in_closed(struct agent_stream *s)
{
	struct fw_stream *f = container_of(s, struct fw_stream, s);
	const char *what;
	int rc = fw_commit(f, &what);

	if (rc < 0) {
		stream_fail(s, -rc, "%s %s: %s", what, f->path, strerror(-rc));
		return;
	}
	stream_final(s, json_pack("{s:s,s:I}", "type", "result", "size", (json_int_t)f->size));
}

static void fw_release(struct agent_stream *s)
{
	struct fw_stream *f = container_of(s, struct fw_stream, s);

	if (f->fd >= 0)
		close(f->fd);
	if (f->tmp)
		unlink(f->tmp);
	free(f->tmp);
	free(f->path);
}

static const struct stream_ops fw_ops = {
    .op = "file_write",
    .in_data = fw_data,
    .in_closed = fw_in_closed,
    .release = fw_release,
};

/* "<dir>/.<name>.torpor-XXXXXX" for path "<dir>/<name>". */
static char *fw_tmp_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *tmp;

	if (!slash[1] ||
	    asprintf(&tmp, "%.*s.%s.torpor-XXXXXX", (int)(slash + 1 - path), path, slash + 1) < 0)
		return NULL;
	return tmp;
}

void op_file_write(struct agent_conn *c, uint32_t id, json_t *req)
{
	struct fw_stream *f;
	struct req_file r;

	if (!file_req(c, id, req, "file_write", &r))
		return;
	if (r.path[strlen(r.path) - 1] == '/') {
		conn_reply_error(c, id, EINVAL, "file_write: path: must name a file, not end in /");
		return;
	}
	f = stream_new(c, id, &fw_ops, sizeof(*f));
	if (!f)
		return;
	f->fd = -1;
	f->r = r;
	f->path = strdup(r.path);
	f->tmp = fw_tmp_name(r.path);
	if (!f->path || !f->tmp) {
		stream_fail(&f->s, ENOMEM, "file_write: out of memory");
		return;
	}
	f->fd = mkostemp(f->tmp, O_CLOEXEC);
	if (f->fd < 0) {
		int err = errno;

		free(f->tmp);
		f->tmp = NULL;
		stream_fail(&f->s, err, "open %s: %s", f->path, strerror(err));
	}
}

/* ---- file_read: started (size, mode), DATA on OUT, CLOSE, result ---- */

struct fr_stream {
	struct agent_stream s;
	char *path;
};

static void fr_src_done(struct agent_stream *s, struct agent_src *src, int err)
{
	struct fr_stream *f = container_of(s, struct fr_stream, s);

	if (err)
		stream_fail(s, -err, "read %s: %s", f->path, strerror(-err));
	else
		stream_final(
		    s, json_pack("{s:s,s:I}", "type", "result", "size", (json_int_t)src->bytes));
}

static void fr_release(struct agent_stream *s)
{
	free(container_of(s, struct fr_stream, s)->path);
}

static const struct stream_ops fr_ops = {
    .op = "file_read",
    .src_done = fr_src_done,
    .release = fr_release,
};

/* Open path for reading: 0 and *fd, or an errno value (a directory is EISDIR). */
static int fr_open(const char *path, int *fd, struct stat *st)
{
	int err = 0;

	*fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (*fd < 0)
		return errno;
	if (fstat(*fd, st) < 0)
		err = errno;
	else if (S_ISDIR(st->st_mode))
		err = EISDIR;
	if (err)
		close(*fd);
	return err;
}

void op_file_read(struct agent_conn *c, uint32_t id, json_t *req)
{
	struct fr_stream *f;
	struct req_file r;
	struct stat st;
	int fd, rc;

	if (!file_req(c, id, req, "file_read", &r))
		return;
	rc = fr_open(r.path, &fd, &st);
	if (rc) {
		conn_reply_error(c, id, rc, "open %s: %s", r.path, strerror(rc));
		return;
	}
	f = stream_new(c, id, &fr_ops, sizeof(*f));
	if (!f) {
		close(fd);
		return;
	}
	f->path = strdup(r.path);
	if (!f->path) {
		close(fd);
		stream_fail(&f->s, ENOMEM, "file_read: out of memory");
		return;
	}
	stream_reply(&f->s, json_pack("{s:s,s:I,s:i}", "type", "started", "size",
				      (json_int_t)st.st_size, "mode", (int)(st.st_mode & 07777)));
	rc = stream_src_open(&f->s, CHAN_OUT, fd, false);
	if (rc < 0)
		stream_fail(&f->s, -rc, "read %s: %s", r.path, strerror(-rc));
}

/* ---- stat, list, remove: one reply each ---- */

void op_stat(struct agent_conn *c, uint32_t id, json_t *req)
{
	struct req_file r;
	struct stat st;

	if (!file_req(c, id, req, "stat", &r))
		return;
	if (lstat(r.path, &st) < 0) {
		conn_reply_error(c, id, errno, "stat %s: %s", r.path, strerror(errno));
		return;
	}
	conn_send_json(c, id,
		       json_pack("{s:s,s:s,s:i,s:I,s:I,s:I,s:I}", "type", "result", "file_type",
				 file_type(st.st_mode), "mode", (int)(st.st_mode & 07777), "size",
				 (json_int_t)st.st_size, "uid", (json_int_t)st.st_uid, "gid",
				 (json_int_t)st.st_gid, "mtime_ns",
				 (json_int_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec));
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Up to LIST_MAX names in d, sorted; *more if there were others. */
static int list_names(DIR *d, char ***names, size_t *n, bool *more)
{
	struct dirent *de;
	char **v = NULL;

	*n = 0;
	*more = false;
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == LIST_MAX) {
			*more = true;
			break;
		}
		if (*n % 256 == 0) {
			char **nv = realloc(v, (*n + 256) * sizeof(*v));

			if (!nv)
				goto err;
			v = nv;
		}
		if (!(v[*n] = strdup(de->d_name)))
			goto err;
		(*n)++;
	}
	if (errno)
		goto err;
	if (*n)
		qsort(v, *n, sizeof(*v), name_cmp);
	*names = v;
	return 0;
err:
	while (*n)
		free(v[--*n]);
	free(v);
	return errno ? -errno : -ENOMEM;
}

/* {name, type, mode, size}, or NULL if name is not UTF-8 (left out) or memory ran out. */
static json_t *list_entry(int dfd, const char *name)
{
	json_t *jname = json_string(name);
	struct stat st;

	if (!jname)
		return NULL;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		memset(&st, 0, sizeof(st)); /* gone meanwhile: "other", 0 */
	return json_pack("{s:o,s:s,s:i,s:I}", "name", jname, "type", file_type(st.st_mode), "mode",
			 (int)(st.st_mode & 07777), "size", (json_int_t)st.st_size);
}

/* The entries that fit one CTRL frame; truncated if some did not. */
static json_t *list_json(DIR *d, char **names, size_t n, bool more)
{
	json_t *res = json_pack("{s:s,s:[]}", "type", "result", "entries"), *arr, *ent;
	size_t room = LIST_JSON_ROOM, skipped = 0, i;

	if (!res)
		return NULL;
	arr = json_object_get(res, "entries");
	for (i = 0; i < n; i++) {
		size_t sz;

		ent = list_entry(dirfd(d), names[i]);
		if (!ent) {
			skipped++;
			continue;
		}
		sz = json_dumpb(ent, NULL, 0, JSON_COMPACT) + 1;
		if (sz > room || json_array_append_new(arr, ent) < 0) {
			json_decref(ent);
			more = true;
			break;
		}
		room -= sz;
	}
	if (more)
		json_object_set_new(res, "truncated", json_true());
	if (skipped)
		json_object_set_new(res, "skipped", json_integer((json_int_t)skipped));
	return res;
}

void op_list(struct agent_conn *c, uint32_t id, json_t *req)
{
	struct req_file r;
	char **names = NULL;
	size_t n = 0;
	bool more;
	DIR *d;
	int rc;

	if (!file_req(c, id, req, "list", &r))
		return;
	d = opendir(r.path);
	if (!d) {
		conn_reply_error(c, id, errno, "list %s: %s", r.path, strerror(errno));
		return;
	}
	rc = list_names(d, &names, &n, &more);
	if (rc < 0)
		conn_reply_error(c, id, -rc, "list %s: %s", r.path, strerror(-rc));
	else
		conn_send_json(c, id, list_json(d, names, n, more));
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
}

static char rm_failed[PATH_MAX]; /* nftw's callback has no context */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (remove(path) == 0)
		return 0;
	snprintf(rm_failed, sizeof(rm_failed), "%s", path);
	return errno ? errno : EIO;
}

/* Depth first, not following links nor crossing mounts. Returns 0 or an errno value. */
static int rm_tree(const char *path)
{
	int rc = nftw(path, rm_one, RM_FDS, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);

	return rc < 0 ? errno : rc; /* > 0: what rm_one() returned */
}

void op_remove(struct agent_conn *c, uint32_t id, json_t *req)
{
	struct req_file r;
	struct stat st;
	int rc = 0;

	if (!file_req(c, id, req, "remove", &r))
		return;
	if (!strcmp(r.path, "/")) {
		conn_reply_error(c, id, EINVAL, "remove /: refusing to remove the root directory");
		return;
	}
	snprintf(rm_failed, sizeof(rm_failed), "%s", r.path);
	if (lstat(r.path, &st) < 0)
		rc = errno;
	else if (S_ISDIR(st.st_mode) && r.recursive)
		rc = rm_tree(r.path);
	else if (S_ISDIR(st.st_mode))
		rc = rmdir(r.path) < 0 ? errno : 0;
	else
		rc = unlink(r.path) < 0 ? errno : 0;
	if (rc)
		conn_reply_error(c, id, rc, "remove %s: %s", rm_failed, strerror(rc));
	else
		conn_send_json(c, id, json_pack("{s:s}", "type", "result"));
}
