/* Restoring memory: check a diff chain, map it as guest RAM by mmap, flatten it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/buf.h"
#include "snapshot/memfile.h"

struct chain_file {
	int fd;
	struct memfile_info h;
	struct memfile_range *r; /* diff ranges, NULL for the full file */
	char path[PATH_MAX];
};

/* f[0] is the file asked for, f[n - 1] the full file at the bottom. */
struct chain {
	struct chain_file f[MEMFILE_MAX_DEPTH + 1];
	unsigned int n;
};

static void chain_close(struct chain *c)
{
	for (unsigned int i = 0; i < c->n; i++) {
		close(c->f[i].fd);
		free(c->f[i].r);
	}
	free(c);
}

/* Open child's parent as c->f[c->n] and check it is the file the child was taken over. */
static int open_parent(struct chain *c, char *err, size_t errlen)
{
	const struct chain_file *child = &c->f[c->n - 1];
	struct chain_file *p = &c->f[c->n];
	int rc;

	if (c->n > MEMFILE_MAX_DEPTH)
		return snap_errf(err, errlen, -EINVAL, "%s: chain deeper than %u diffs",
				 child->path, MEMFILE_MAX_DEPTH);
	if (memfile_parent_path(child->path, child->h.parent, p->path, sizeof(p->path)) < 0)
		return snap_errf(err, errlen, -ENAMETOOLONG, "%s: parent name too long",
				 child->path);
	rc = memfile_open(p->path, &p->fd, &p->h, &p->r, err, errlen);
	if (rc == -ENOENT)
		return snap_errf(err, errlen, rc, "%s: parent %s is missing", child->path, p->path);
	if (rc < 0)
		return rc;
	c->n++;
	if (memcmp(p->h.id, child->h.parent_id, MEMFILE_ID_LEN) ||
	    p->h.file_size != child->h.parent_size)
		return snap_errf(err, errlen, -EINVAL,
				 "%s: parent %s has changed since the diff was taken", child->path,
				 p->path);
	if (p->h.ram_size != child->h.ram_size || p->h.depth + 1 != child->h.depth)
		return snap_errf(err, errlen, -EINVAL,
				 "%s: parent %s does not match (memory size or depth)", child->path,
				 p->path);
	return 0;
}

/* Every file of the chain can be mapped with this host's page size. */
static int check_host(const struct chain *c, char *err, size_t errlen)
{
	long hps = sysconf(_SC_PAGESIZE);

	if (hps <= 0 || MEMFILE_DATA_OFFSET % hps)
		return snap_errf(err, errlen, -EINVAL, "host page size %ld is not supported", hps);
	for (unsigned int i = 0; i < c->n; i++)
		if (c->f[i].h.kind == MEMFILE_DIFF && c->f[i].h.page_size % hps)
			return snap_errf(err, errlen, -EINVAL,
					 "%s: page size %u is smaller than this host's (%ld)",
					 c->f[i].path, c->f[i].h.page_size, hps);
	return 0;
}

static int chain_open(const char *path, uint64_t ram_size, struct chain **out, char *err,
		      size_t errlen)
{
	struct chain *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return snap_errf(err, errlen, -ENOMEM, "%s: out of memory", path);
	if (snprintf(c->f[0].path, sizeof(c->f[0].path), "%s", path) >= (int)sizeof(c->f[0].path))
		rc = snap_errf(err, errlen, -ENAMETOOLONG, "%s: name too long", path);
	else
		rc = memfile_open(path, &c->f[0].fd, &c->f[0].h, &c->f[0].r, err, errlen);
	if (rc < 0) {
		free(c);
		return rc;
	}
	c->n = 1;
	if (ram_size && c->f[0].h.ram_size != ram_size)
		rc = snap_errf(
		    err, errlen, -EINVAL, "%s: holds %llu bytes of memory, the VM has %llu", path,
		    (unsigned long long)c->f[0].h.ram_size, (unsigned long long)ram_size);
	while (!rc && c->f[c->n - 1].h.kind == MEMFILE_DIFF)
		rc = open_parent(c, err, errlen);
	if (!rc)
		rc = check_host(c, err, errlen);
	if (rc < 0) {
		chain_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

int memfile_check(const char *path, uint64_t ram_size, char *err, size_t errlen)
{
	struct chain *c;
	int rc = chain_open(path, ram_size, &c, err, errlen);

	if (rc < 0)
		return rc;
	chain_close(c);
	return 0;
}

int memfile_check_parent(const char *parent, const char *path, uint64_t ram_size, char *err,
			 size_t errlen)
{
	struct chain *c;
	struct stat self, st;
	int rc = chain_open(parent, ram_size, &c, err, errlen);

	if (rc < 0)
		return rc;
	if (stat(path, &self) < 0) {
		chain_close(c);
		return 0; /* a new name: nothing of the chain can be replaced */
	}
	for (unsigned int i = 0; i < c->n && !rc; i++)
		if (!fstat(c->f[i].fd, &st) && st.st_dev == self.st_dev && st.st_ino == self.st_ino)
			rc =
			    snap_errf(err, errlen, -EINVAL,
				      "%s: writing here would replace %s, part of the diff's chain",
				      path, c->f[i].path);
	chain_close(c);
	return rc;
}

/* Map each of a diff's ranges over RAM at base, straight from the file. */
static int map_diff(uint8_t *base, const struct chain_file *f, char *err, size_t errlen)
{
	uint64_t off = MEMFILE_DATA_OFFSET, ps = f->h.page_size;

	for (uint32_t i = 0; i < f->h.nr_ranges; i++) {
		uint64_t len = f->r[i].count * ps;
		void *p = mmap(base + f->r[i].first * ps, len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, f->fd, (off_t)off);

		if (p == MAP_FAILED)
			return snap_errf(err, errlen, -errno, "%s: mmap of range %u: %s", f->path,
					 i, strerror(errno));
		off += len;
	}
	return 0;
}

int memfile_map(const char *path, uint64_t ram_size, void **addr, char *err, size_t errlen)
{
	struct chain *c;
	uint8_t *base;
	int rc;

	if (!ram_size)
		return snap_errf(err, errlen, -EINVAL, "%s: memory size 0", path);
	rc = chain_open(path, ram_size, &c, err, errlen);
	if (rc < 0)
		return rc;
	base = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE,
		    c->f[c->n - 1].fd, MEMFILE_DATA_OFFSET);
	if (base == MAP_FAILED) {
		rc = snap_errf(err, errlen, -errno, "%s: mmap: %s", c->f[c->n - 1].path,
			       strerror(errno));
		chain_close(c);
		return rc;
	}
	for (unsigned int i = c->n - 1; i-- > 0 && !rc;)
		rc = map_diff(base, &c->f[i], err, errlen);
	chain_close(c);
	if (rc < 0) {
		munmap(base, ram_size);
		return rc;
	}
	*addr = base;
	return 0;
}

void memfile_unmap(void *addr, uint64_t ram_size)
{
	if (addr)
		munmap(addr, ram_size);
}

int memfile_merge(const char *top, const char *out, const struct snap_fault *fault,
		  struct memfile_info *info, char *err, size_t errlen)
{
	struct memfile_info h;
	void *ram;
	int rc;

	rc = memfile_probe(top, &h, err, errlen);
	if (!rc)
		rc = memfile_map(top, h.ram_size, &ram, err, errlen);
	if (rc < 0)
		return rc;
	madvise(ram, h.ram_size, MADV_SEQUENTIAL);
	rc = memfile_write_full(out, ram, h.ram_size, fault, info, err, errlen);
	memfile_unmap(ram, h.ram_size);
	return rc;
}
