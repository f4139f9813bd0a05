/* The snapshot state file: section names, the writer, the memory section codec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/state.h"

static const struct {
	const char *name;
	int multi;
} sections[SNAP_SEC_NR] = {
    [SNAP_SEC_CONFIG] = {"config", 0},
    [SNAP_SEC_MEMORY] = {"memory", 0},
    [SNAP_SEC_VM] = {"vm", 0},
    [SNAP_SEC_VCPU] = {"vcpu", 1},
    [SNAP_SEC_GIC] = {"gic", 0},
    [SNAP_SEC_GIC_CPU] = {"gic-cpu", 1},
    [SNAP_SEC_VIRTIO_MMIO] = {"virtio-mmio", 1},
    [SNAP_SEC_BLK] = {"blk", 1},
    [SNAP_SEC_NET] = {"net", 1},
    [SNAP_SEC_VSOCK] = {"vsock", 0},
    [SNAP_SEC_UART] = {"uart", 0},
};

const char *snap_section_name(uint32_t id)
{
	return id < SNAP_SEC_NR ? sections[id].name : NULL;
}

int snap_section_multi(uint32_t id)
{
	return id < SNAP_SEC_NR && sections[id].multi;
}

const char *snap_section_label(uint32_t id, uint32_t instance, char *buf, size_t len)
{
	const char *name = snap_section_name(id);

	if (!name)
		snprintf(buf, len, "section %u.%u", id, instance);
	else if (snap_section_multi(id))
		snprintf(buf, len, "%s%u", name, instance);
	else if (instance)
		snprintf(buf, len, "%s.%u", name, instance);
	else
		snprintf(buf, len, "%s", name);
	return buf;
}

static uint64_t align_up(uint64_t v)
{
	return (v + SNAP_STATE_ALIGN - 1) & ~(uint64_t)(SNAP_STATE_ALIGN - 1);
}

int snap_writer_init(struct snap_writer *w, const char *arch)
{
	memset(w, 0, sizeof(*w));
	if (!arch || !arch[0] || strlen(arch) >= SNAP_ARCH_LEN)
		return -EINVAL;
	memcpy(w->arch, arch, strlen(arch));
	return 0;
}

static int check_new(const struct snap_writer *w, uint32_t id, uint32_t instance, uint32_t version,
		     size_t len, char *err, size_t errlen)
{
	char l[48];

	snap_section_label(id, instance, l, sizeof(l));
	if (!snap_section_name(id) || (instance && !snap_section_multi(id)) || !version)
		return snap_errf(err, errlen, -EINVAL, "state: cannot add %s version %u", l,
				 version);
	for (uint32_t i = 0; i < w->nr; i++)
		if (w->secs[i].id == id && w->secs[i].instance == instance)
			return snap_errf(err, errlen, -EEXIST, "state: section %s added twice", l);
	if (w->nr >= SNAP_STATE_MAX_SECTIONS || len > SNAP_STATE_MAX - SNAP_STATE_HEADER_SIZE ||
	    SNAP_STATE_HEADER_SIZE + (uint64_t)(w->nr + 1) * SNAP_STATE_ENTRY_SIZE + w->payload +
		    align_up(len) >
		SNAP_STATE_MAX)
		return snap_errf(err, errlen, -E2BIG,
				 "state: section %s would make the file larger than %u MiB or "
				 "%u sections",
				 l, SNAP_STATE_MAX >> 20, SNAP_STATE_MAX_SECTIONS);
	return 0;
}

int snap_writer_add(struct snap_writer *w, uint32_t id, uint32_t instance, uint32_t version,
		    const void *data, size_t len, char *err, size_t errlen)
{
	struct snap_wsec *s;
	int rc = check_new(w, id, instance, version, len, err, errlen);

	if (rc < 0)
		return rc;
	if (w->nr == w->cap) {
		uint32_t cap = w->cap ? w->cap * 2 : 16;

		s = realloc(w->secs, cap * sizeof(*s));
		if (!s)
			return snap_errf(err, errlen, -ENOMEM, "state: out of memory");
		w->secs = s;
		w->cap = cap;
	}
	s = &w->secs[w->nr];
	*s = (struct snap_wsec){.id = id, .instance = instance, .version = version, .len = len};
	s->data = malloc(len ? len : 1);
	if (!s->data)
		return snap_errf(err, errlen, -ENOMEM, "state: out of memory");
	if (len)
		memcpy(s->data, data, len);
	w->nr++;
	w->payload += align_up(len);
	return 0;
}

static int cmp_wsec(const void *a, const void *b)
{
	const struct snap_wsec *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->instance < y->instance ? -1 : x->instance > y->instance;
}

static void encode_header(const struct snap_writer *w, uint8_t *p, uint64_t size)
{
	uint32_t table_len = w->nr * SNAP_STATE_ENTRY_SIZE;

	memcpy(p, SNAP_STATE_MAGIC, 8);
	memcpy(p + 8, w->arch, SNAP_ARCH_LEN);
	snap_le32(p + 16, SNAP_STATE_VERSION);
	snap_le32(p + 20, SNAP_STATE_HEADER_SIZE);
	snap_le32(p + 24, w->nr);
	snap_le32(p + 28, snap_crc32c(0, p + SNAP_STATE_HEADER_SIZE, table_len));
	snap_le64(p + 32, size);
	snap_le32(p + 60, snap_crc32c(0, p, 60));
}

int snap_writer_encode(struct snap_writer *w, uint8_t **out, size_t *len)
{
	uint64_t off = align_up(SNAP_STATE_HEADER_SIZE + (uint64_t)w->nr * SNAP_STATE_ENTRY_SIZE);
	uint64_t size = off + w->payload;
	uint8_t *p, *e;

	if (w->nr)
		qsort(w->secs, w->nr, sizeof(*w->secs), cmp_wsec);
	p = calloc(1, size);
	if (!p)
		return -ENOMEM;
	for (uint32_t i = 0; i < w->nr; i++) {
		const struct snap_wsec *s = &w->secs[i];

		e = p + SNAP_STATE_HEADER_SIZE + i * SNAP_STATE_ENTRY_SIZE;
		snap_le32(e, s->id);
		snap_le32(e + 4, s->instance);
		snap_le32(e + 8, s->version);
		snap_le32(e + 12, snap_crc32c(0, s->data, s->len));
		snap_le64(e + 16, off);
		snap_le64(e + 24, s->len);
		if (s->len)
			memcpy(p + off, s->data, s->len);
		off += align_up(s->len);
	}
	encode_header(w, p, size);
	*out = p;
	*len = size;
	return 0;
}

int snap_writer_commit(struct snap_writer *w, const char *path, const struct snap_fault *fault,
		       char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if (snap_writer_encode(w, &buf, &len) < 0)
		return snap_errf(err, errlen, -ENOMEM, "%s: out of memory", path);
	rc = snap_file_write_all(path, buf, len, fault, err, errlen);
	free(buf);
	return rc;
}

void snap_writer_free(struct snap_writer *w)
{
	for (uint32_t i = 0; i < w->nr; i++)
		free(w->secs[i].data);
	free(w->secs);
	memset(w, 0, sizeof(*w));
}

int snap_memory_encode(const struct snap_memory *m, struct snap_buf *b)
{
	snap_put_u64(b, m->ram_base);
	snap_put_u64(b, m->ram_size);
	snap_put_bytes(b, m->mem_id, sizeof(m->mem_id));
	snap_put_str(b, m->mem_file);
	return snap_buf_error(b);
}

int snap_memory_decode(struct snap_memory *m, const struct snap_section *sec)
{
	struct snap_buf b;

	memset(m, 0, sizeof(*m));
	if (sec->id != SNAP_SEC_MEMORY || sec->version != SNAP_MEMORY_VERSION)
		return -EINVAL;
	snap_buf_view(&b, sec->data, sec->len);
	m->ram_base = snap_get_u64(&b);
	m->ram_size = snap_get_u64(&b);
	snap_get_bytes(&b, m->mem_id, sizeof(m->mem_id));
	snap_get_str(&b, m->mem_file, sizeof(m->mem_file));
	if (snap_buf_done(&b) < 0 || !m->mem_file[0])
		return -EINVAL;
	return 0;
}
