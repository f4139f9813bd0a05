/*
 * The snapshot state file (docs/snapshot-format.md): a header, a table of
 * sections and their payloads, each checksummed. One section per component
 * (config, memory layout, each vCPU, the GIC, each device), keyed by
 * (id, instance); each payload is the component's own versioned encoding.
 */
#ifndef TORPOR_SNAP_STATE_H
#define TORPOR_SNAP_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/atomic.h"
#include "snapshot/buf.h"

#define SNAP_STATE_MAGIC	"TORPSNAP"
#define SNAP_STATE_VERSION	1
#define SNAP_STATE_HEADER_SIZE	64u
#define SNAP_STATE_ENTRY_SIZE	32u
#define SNAP_STATE_ALIGN	8u	    /* payload alignment */
#define SNAP_STATE_MAX		(64u << 20) /* largest state file */
#define SNAP_STATE_MAX_SECTIONS 8192u
#define SNAP_ARCH_LEN		8 /* arch tag bytes in the header, NUL-padded */
#define SNAP_ARCH_AARCH64	"aarch64"

/* Section ids: values are on disk, never renumber. */
enum snap_section_id {
	SNAP_SEC_CONFIG = 1,	  /* the VM config as JSON text (config_to_json) */
	SNAP_SEC_MEMORY = 2,	  /* RAM layout and memory file (struct snap_memory) */
	SNAP_SEC_VM = 3,	  /* arch VM-wide state (e.g. counter offset) */
	SNAP_SEC_VCPU = 4,	  /* instance: vCPU id; registers */
	SNAP_SEC_GIC = 5,	  /* vGIC distributor and global state */
	SNAP_SEC_GIC_CPU = 6,	  /* instance: vCPU id; redistributor + CPU interface */
	SNAP_SEC_VIRTIO_MMIO = 7, /* instance: virtio slot; transport and queues */
	SNAP_SEC_BLK = 8,	  /* instance: disk index */
	SNAP_SEC_NET = 9,
	SNAP_SEC_VSOCK = 10,
	SNAP_SEC_UART = 11,
	SNAP_SEC_NR, /* one past the last id */
};

/* "vcpu" etc., or NULL for an unknown id. */
const char *snap_section_name(uint32_t id);
/* Whether id may have instances other than 0 (vcpu, blk, ...). */
int snap_section_multi(uint32_t id);
/* "vcpu1", "config", "section 42.0" (unknown id) into buf; returns buf. */
const char *snap_section_label(uint32_t id, uint32_t instance, char *buf, size_t len);

/* ---- Writing ---- */

struct snap_wsec {
	uint32_t id, instance, version;
	uint8_t *data;
	size_t len;
};

struct snap_writer {
	char arch[SNAP_ARCH_LEN];
	struct snap_wsec *secs;
	uint32_t nr, cap;
	uint64_t payload; /* payload bytes so far, each rounded up to SNAP_STATE_ALIGN */
};

/* Start an empty state file for arch ("aarch64": 1..7 bytes). 0 or -EINVAL. */
int snap_writer_init(struct snap_writer *w, const char *arch);
/*
 * Add a section (data copied). version is the payload's own format version
 * (>= 1). Returns 0, or with err set: -EINVAL for an unknown id, version 0
 * or a non-zero instance of a single section; -EEXIST for a repeated
 * (id, instance); -E2BIG past SNAP_STATE_MAX or SNAP_STATE_MAX_SECTIONS;
 * -ENOMEM.
 */
int snap_writer_add(struct snap_writer *w, uint32_t id, uint32_t instance, uint32_t version,
		    const void *data, size_t len, char *err, size_t errlen);
/* The file's bytes (malloc'd, caller frees) into *out, *len. 0 or -ENOMEM. */
int snap_writer_encode(struct snap_writer *w, uint8_t **out, size_t *len);
/*
 * Write the file crash-safely (snapshot/atomic.h): on failure path is
 * untouched and no temporary file remains. fault is NULL but in tests.
 * 0 or -errno with err set.
 */
int snap_writer_commit(struct snap_writer *w, const char *path, const struct snap_fault *fault,
		       char *err, size_t errlen);
void snap_writer_free(struct snap_writer *w);

/* ---- Reading ---- */

struct snap_section {
	uint32_t id, instance, version;
	const uint8_t *data; /* inside the state's buffer */
	uint64_t len;
};

struct snap_state {
	uint8_t *file; /* the bytes read by snap_state_load(), or NULL */
	char arch[SNAP_ARCH_LEN + 1];
	uint32_t version;
	uint32_t nr;
	struct snap_section *secs; /* sorted by (id, instance) */
};

/*
 * Check buf[0..len) completely (magic, version, arch, sizes, header and
 * table checksums, section ids, order, duplicates, bounds, overlaps, gaps,
 * padding, payload checksums) and fill s, whose sections point into buf
 * (which must outlive s). arch NULL accepts any arch. name prefixes errors:
 * "state.bin: bad checksum in section vcpu1". 0 or -EINVAL (-E2BIG for a
 * file over SNAP_STATE_MAX, -ENOMEM) with err set.
 */
int snap_state_parse(struct snap_state *s, const void *buf, size_t len, const char *arch,
		     const char *name, char *err, size_t errlen);
/* Read path (at most SNAP_STATE_MAX bytes) and parse it. 0 or -errno with err set. */
int snap_state_load(struct snap_state *s, const char *path, const char *arch, char *err,
		    size_t errlen);
/* The section (id, instance), or NULL. */
const struct snap_section *snap_state_find(const struct snap_state *s, uint32_t id,
					   uint32_t instance);
/* How many sections have this id. */
uint32_t snap_state_count(const struct snap_state *s, uint32_t id);
void snap_state_free(struct snap_state *s);

/* ---- The memory section (SNAP_SEC_MEMORY) ---- */

#define SNAP_MEMORY_VERSION  1
#define SNAP_MEMORY_PATH_MAX 4096

/* The memory file name is absolute, or relative to the state file's directory. */
struct snap_memory {
	uint64_t ram_base;  /* guest physical address of RAM */
	uint64_t ram_size;  /* bytes */
	uint8_t mem_id[16]; /* id of the memory file (struct memfile_info) */
	char mem_file[SNAP_MEMORY_PATH_MAX];
};

/* Append m's encoding (version SNAP_MEMORY_VERSION) to b; 0 or b's error. */
int snap_memory_encode(const struct snap_memory *m, struct snap_buf *b);
/* Decode a section of that version. 0 or -EINVAL (bad version, size, empty path). */
int snap_memory_decode(struct snap_memory *m, const struct snap_section *sec);

#endif
