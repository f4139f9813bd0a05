/* The snapshot state file reader: every byte checked before anything is returned. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapshot/state.h"

/* What parsing needs besides the output. */
struct parse {
	const uint8_t *p;
	size_t len;
	const char *name;
	char *err;
	size_t errlen;
};

static uint64_t align_up(uint64_t v)
{
	return (v + SNAP_STATE_ALIGN - 1) & ~(uint64_t)(SNAP_STATE_ALIGN - 1);
}

static int check_arch(struct snap_state *s, const struct parse *ps, const char *arch)
{
	const uint8_t *a = ps->p + 8;
	size_t n = strnlen((const char *)a, SNAP_ARCH_LEN);

	if (n == 0 || n == SNAP_ARCH_LEN)
		return snap_errf(ps->err, ps->errlen, -EINVAL, "%s: bad arch tag", ps->name);
	for (size_t i = 0; i < SNAP_ARCH_LEN; i++)
		if (i < n ? (a[i] < 0x21 || a[i] > 0x7e) : a[i] != 0)
			return snap_errf(ps->err, ps->errlen, -EINVAL, "%s: bad arch tag",
					 ps->name);
	memcpy(s->arch, a, n);
	s->arch[n] = '\0';
	if (arch && strcmp(arch, s->arch))
		return snap_errf(ps->err, ps->errlen, -EINVAL,
				 "%s: snapshot is for %s, this host is %s", ps->name, s->arch,
				 arch);
	return 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* The 64-byte header: magic, version, arch, checksum, sizes. */
static int parse_header(struct snap_state *s, const struct parse *ps, const char *arch)
{
	const uint8_t *p = ps->p;
	uint64_t size, table_end;
	int rc;

	if (ps->len < SNAP_STATE_HEADER_SIZE && (ps->len < 8 || !memcmp(p, SNAP_STATE_MAGIC, 8)))
		return snap_errf(ps->err, ps->errlen, -EINVAL, "%s: truncated (%zu bytes)",
				 ps->name, ps->len);
	if (memcmp(p, SNAP_STATE_MAGIC, 8))
		return snap_errf(ps->err, ps->errlen, -EINVAL,
				 "%s: not a torpor state file (bad magic)", ps->name);
	s->version = snap_ld32(p + 16);
	if (s->version != SNAP_STATE_VERSION)
		return snap_errf(ps->err, ps->errlen, -EINVAL,
				 "%s: version %u is not supported (this build reads %u)", ps->name,
				 s->version, SNAP_STATE_VERSION);
	rc = check_arch(s, ps, arch);
	if (rc < 0)
		return rc;
	if (snap_ld32(p + 60) != snap_crc32c(0, p, 60))
		return snap_errf(ps->err, ps->errlen, -EINVAL, "%s: bad header checksum", ps->name);
	if (snap_ld32(p + 20) != SNAP_STATE_HEADER_SIZE || !all_zero(p + 40, 20))
		return snap_errf(ps->err, ps->errlen, -EINVAL, "%s: bad header", ps->name);
	size = snap_ld64(p + 32);
	if (size != ps->len)
		return snap_errf(ps->err, ps->errlen, -EINVAL,
				 "%s: header says %llu bytes, the file has %zu (%s)", ps->name,
				 (unsigned long long)size, ps->len,
				 size > ps->len ? "truncated" : "trailing bytes");
	s->nr = snap_ld32(p + 24);
	table_end = SNAP_STATE_HEADER_SIZE + (uint64_t)s->nr * SNAP_STATE_ENTRY_SIZE;
	if (s->nr > SNAP_STATE_MAX_SECTIONS || table_end > ps->len)
		return snap_errf(ps->err, ps->errlen, -EINVAL,
				 "%s: %u sections do not fit the file", ps->name, s->nr);
	if (snap_ld32(p + 28) !=
	    snap_crc32c(0, p + SNAP_STATE_HEADER_SIZE, table_end - SNAP_STATE_HEADER_SIZE))
		return snap_errf(ps->err, ps->errlen, -EINVAL, "%s: bad section table checksum",
				 ps->name);
	return 0;
}

/* Entry i's id and place in the order: known, instance allowed, after the previous. */
static int check_key(const struct snap_section *c, const struct snap_section *prev,
		     const struct parse *ps, const char *l)
{
	if (!snap_section_name(c->id))
		return snap_errf(ps->err, ps->errlen, -EINVAL, "%s: unknown %s", ps->name, l);
	if (c->instance && !snap_section_multi(c->id))
		return snap_errf(ps->err, ps->errlen, -EINVAL,
				 "%s: section %s may only have instance 0", ps->name, l);
	if (!c->version)
		return snap_errf(ps->err, ps->errlen, -EINVAL, "%s: section %s has version 0",
				 ps->name, l);
	if (prev && prev->id == c->id && prev->instance == c->instance)
		return snap_errf(ps->err, ps->errlen, -EINVAL, "%s: duplicate section %s", ps->name,
				 l);
	if (prev && (prev->id > c->id || (prev->id == c->id && prev->instance > c->instance)))
		return snap_errf(ps->err, ps->errlen, -EINVAL,
				 "%s: section table out of order at %s", ps->name, l);
	return 0;
}

/* Entry placement: inside the file, right after the previous payload (or the table). */
static int check_place(uint64_t off, uint64_t len, uint64_t expect, const char *prev_l,
		       const struct parse *ps, const char *l)
{
	if (off > ps->len || len > ps->len - off)
		return snap_errf(
		    ps->err, ps->errlen, -EINVAL,
		    "%s: section %s (%llu bytes at %llu) runs past the end of the file", ps->name,
		    l, (unsigned long long)len, (unsigned long long)off);
	if (off < expect && !prev_l)
		return snap_errf(ps->err, ps->errlen, -EINVAL,
				 "%s: section %s overlaps the section table", ps->name, l);
	if (off < expect)
		return snap_errf(ps->err, ps->errlen, -EINVAL, "%s: sections %s and %s overlap",
				 ps->name, prev_l, l);
	if (off != expect)
		return snap_errf(ps->err, ps->errlen, -EINVAL,
				 "%s: unexpected gap of %llu bytes before section %s", ps->name,
				 (unsigned long long)(off - expect), l);
	return 0;
}

static int parse_entry(struct snap_state *s, uint32_t i, uint64_t *expect, const struct parse *ps)
{
	const uint8_t *e = ps->p + SNAP_STATE_HEADER_SIZE + (size_t)i * SNAP_STATE_ENTRY_SIZE;
	struct snap_section *c = &s->secs[i], *prev = i ? &s->secs[i - 1] : NULL;
	uint64_t off = snap_ld64(e + 16), end;
	char l[48], pl[48];
	int rc;

	c->id = snap_ld32(e);
	c->instance = snap_ld32(e + 4);
	c->version = snap_ld32(e + 8);
	c->len = snap_ld64(e + 24);
	snap_section_label(c->id, c->instance, l, sizeof(l));
	if (prev)
		snap_section_label(prev->id, prev->instance, pl, sizeof(pl));
	rc = check_key(c, prev, ps, l);
	if (!rc)
		rc = check_place(off, c->len, *expect, prev ? pl : NULL, ps, l);
	if (rc < 0)
		return rc;
	end = off + c->len;
	if (!all_zero(ps->p + end, align_up(end) > ps->len ? ps->len - end : align_up(end) - end))
		return snap_errf(ps->err, ps->errlen, -EINVAL,
				 "%s: non-zero padding after section %s", ps->name, l);
	c->data = ps->p + off;
	if (snap_ld32(e + 12) != snap_crc32c(0, c->data, c->len))
		return snap_errf(ps->err, ps->errlen, -EINVAL, "%s: bad checksum in section %s",
				 ps->name, l);
	*expect = align_up(end);
	return 0;
}

int snap_state_parse(struct snap_state *s, const void *buf, size_t len, const char *arch,
		     const char *name, char *err, size_t errlen)
{
	struct parse ps = {.p = buf, .len = len, .name = name, .err = err, .errlen = errlen};
	uint64_t expect;
	int rc;

	memset(s, 0, sizeof(*s));
	if (len > SNAP_STATE_MAX)
		return snap_errf(err, errlen, -E2BIG, "%s: too large (%zu bytes, at most %u MiB)",
				 name, len, SNAP_STATE_MAX >> 20);
	rc = parse_header(s, &ps, arch);
	if (rc < 0)
		goto err;
	s->secs = calloc(s->nr ? s->nr : 1, sizeof(*s->secs));
	if (!s->secs) {
		rc = snap_errf(err, errlen, -ENOMEM, "%s: out of memory", name);
		goto err;
	}
	expect = align_up(SNAP_STATE_HEADER_SIZE + (uint64_t)s->nr * SNAP_STATE_ENTRY_SIZE);
	for (uint32_t i = 0; i < s->nr; i++) {
		rc = parse_entry(s, i, &expect, &ps);
		if (rc < 0)
			goto err;
	}
	if (expect != len) {
		rc = snap_errf(err, errlen, -EINVAL,
			       "%s: the file is %zu bytes but its last section ends at %llu", name,
			       len, (unsigned long long)expect);
		goto err;
	}
	return 0;
err:
	snap_state_free(s);
	return rc;
}

/* Read all of fd (size bytes) into a new buffer. */
static int read_all(int fd, size_t size, uint8_t **out)
{
	uint8_t *p = malloc(size ? size : 1);
	size_t done = 0;
	ssize_t n;

	if (!p)
		return -ENOMEM;
	while (done < size) {
		n = pread(fd, p + done, size - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(p);
			return n < 0 ? -errno : -EIO;
		}
		done += (size_t)n;
	}
	*out = p;
	return 0;
}

int snap_state_load(struct snap_state *s, const char *path, const char *arch, char *err,
		    size_t errlen)
{
	struct stat st;
	uint8_t *buf = NULL;
	int fd, rc = 0;

	memset(s, 0, sizeof(*s));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return snap_errf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		rc = snap_errf(err, errlen, -errno, "%s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		rc = snap_errf(err, errlen, -EINVAL, "%s: not a regular file", path);
	else if (st.st_size > SNAP_STATE_MAX)
		rc = snap_errf(err, errlen, -E2BIG, "%s: too large (%lld bytes, at most %u MiB)",
			       path, (long long)st.st_size, SNAP_STATE_MAX >> 20);
	else if ((rc = read_all(fd, (size_t)st.st_size, &buf)) < 0)
		snap_errf(err, errlen, rc, "%s: read: %s", path, strerror(-rc));
	close(fd);
	if (rc < 0)
		return rc;
	rc = snap_state_parse(s, buf, (size_t)st.st_size, arch, path, err, errlen);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	s->file = buf;
	return 0;
}

const struct snap_section *snap_state_find(const struct snap_state *s, uint32_t id,
					   uint32_t instance)
{
	uint32_t lo = 0, hi = s->nr;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct snap_section *c = &s->secs[mid];

		if (c->id == id && c->instance == instance)
			return c;
		if (c->id < id || (c->id == id && c->instance < instance))
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

uint32_t snap_state_count(const struct snap_state *s, uint32_t id)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->nr; i++)
		n += s->secs[i].id == id;
	return n;
}

void snap_state_free(struct snap_state *s)
{
	free(s->secs);
	free(s->file);
	memset(s, 0, sizeof(*s));
}
