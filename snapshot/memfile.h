/*
 * Guest memory files (docs/snapshot-format.md): full files hold all of RAM,
 * sparsely; diff files hold the pages dirtied since their parent and name
 * it. Both keep their data at a fixed, page-aligned offset so restore maps
 * them straight into guest RAM with mmap(MAP_PRIVATE), copying nothing.
 */
#ifndef TORPOR_MEMFILE_H
#define TORPOR_MEMFILE_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/atomic.h"

#define MEMFILE_MAGIC	    "TORPMEM\0"
#define MEMFILE_VERSION	    1
#define MEMFILE_HEADER_SIZE 4096u
#define MEMFILE_TABLE_OFF   4096u  /* diff range table */
#define MEMFILE_DATA_OFFSET 65536u /* data: aligned for 4/16/64 KiB host pages */
#define MEMFILE_PAGE	    4096u  /* full files: zero pages of this size are holes */
#define MEMFILE_RANGE_SIZE  16u	   /* bytes per range table entry */
#define MEMFILE_MAX_RANGES  2048u  /* per diff: the table fits below the data */
#define MEMFILE_MAX_DEPTH   16u	   /* diffs above one full file */
#define MEMFILE_PARENT_MAX  3840u  /* parent path bytes in the header */
#define MEMFILE_PAGE_MIN    4096u  /* diff page sizes: powers of 2 in this range */
#define MEMFILE_PAGE_MAX    65536u
#define MEMFILE_RAM_MAX	    (1ull << 40) /* largest RAM a file may describe */
#define MEMFILE_ID_LEN	    16

enum memfile_kind {
	MEMFILE_FULL = 1,
	MEMFILE_DIFF = 2,
};

/* Pages [first, first + count) of guest RAM, in units of the file's page size. */
struct memfile_range {
	uint64_t first, count;
};

/* A memory file's header, decoded. */
struct memfile_info {
	uint32_t kind;		    /* enum memfile_kind */
	uint32_t page_size;	    /* diff: unit of the ranges (the dirty log's page) */
	uint32_t depth;		    /* 0 for a full file, parent's + 1 for a diff */
	uint32_t nr_ranges;	    /* diff: range table entries */
	uint32_t table_crc;	    /* diff: CRC32C of the range table (memfile_ranges_crc) */
	uint64_t ram_size;	    /* bytes of guest RAM the chain describes */
	uint64_t file_size;	    /* this file's exact size */
	uint8_t id[MEMFILE_ID_LEN]; /* random, new for every file written */
	uint8_t parent_id[MEMFILE_ID_LEN]; /* diff: the parent's id */
	uint64_t parent_size;		   /* diff: the parent's file_size */
	char parent[MEMFILE_PARENT_MAX +
		    1]; /* diff: absolute, or relative to this file's directory */
};

/* Encode h into buf[MEMFILE_HEADER_SIZE] (magic, fields, zero padding, CRC). */
void memfile_header_encode(const struct memfile_info *h, uint8_t *buf);
/*
 * Decode and check buf[MEMFILE_HEADER_SIZE]: magic, version, checksum,
 * kind, sizes and the fields each kind requires. name prefixes errors.
 * 0 or -EINVAL with err set.
 */
int memfile_header_decode(struct memfile_info *h, const uint8_t *buf, const char *name, char *err,
			  size_t errlen);
/*
 * Decode and check a diff's range table (h->nr_ranges entries at
 * buf[0..len), len >= nr_ranges * MEMFILE_RANGE_SIZE) into r[nr_ranges]:
 * checksum, non-empty ranges in ascending order that do not overlap, inside
 * RAM, whose pages exactly fill the file after MEMFILE_DATA_OFFSET.
 * 0 or -EINVAL with err set.
 */
int memfile_ranges_decode(const struct memfile_info *h, const uint8_t *buf, size_t len,
			  struct memfile_range *r, const char *name, char *err, size_t errlen);

/* CRC32C of n ranges as encoded in the range table. */
uint32_t memfile_ranges_crc(const struct memfile_range *r, uint32_t n);

/*
 * The path of parent as named by the diff file child: parent itself if
 * absolute (or child has no directory), else child's directory + "/" +
 * parent. 0 or -ENAMETOOLONG.
 */
int memfile_parent_path(const char *child, const char *parent, char *out, size_t len);

/*
 * Open path read-only and check it as memfile_probe() does, keeping it open:
 * *fd, *h and, for a diff, *r (malloc'd, h->nr_ranges entries; NULL for a
 * full file). 0 or -errno with err set (and nothing open).
 */
int memfile_open(const char *path, int *fd, struct memfile_info *h, struct memfile_range **r,
		 char *err, size_t errlen);
/*
 * Read and check one memory file's header (and range table), and that the
 * file has the size the header says. Does not follow parents. 0 or -errno
 * with err set.
 */
int memfile_probe(const char *path, struct memfile_info *info, char *err, size_t errlen);

/*
 * Write ram[0..ram_size) (a multiple of MEMFILE_PAGE) as a full memory
 * file at path: all-zero pages stay holes. Crash-safe (snapshot/atomic.h):
 * on failure path is untouched and no temporary file remains. info, if
 * not NULL, receives the new file's header. 0 or -errno with err set.
 */
int memfile_write_full(const char *path, const void *ram, uint64_t ram_size,
		       const struct snap_fault *fault, struct memfile_info *info, char *err,
		       size_t errlen);
/*
 * Write a diff memory file at path over parent (a memory file, absolute or
 * relative to path's directory, as stored): the pages of ram whose bit is
 * set in bitmap (bit i of word i / 64 is page i of page_size bytes, as
 * KVM_GET_DIRTY_LOG gives on a 64-bit little-endian host). Runs of dirty
 * pages become ranges; when there would be more than MEMFILE_MAX_RANGES,
 * the closest ones are joined, clean pages between them included (their
 * contents in ram are current, so the result is the same). Zero pages are
 * holes. The parent's whole chain is checked first, as restore would, and
 * path may not name any file of it. Crash-safe like memfile_write_full().
 * 0 or -errno with err set.
 */
int memfile_write_diff(const char *path, const char *parent, const void *ram, uint64_t ram_size,
		       const uint64_t *bitmap, uint32_t page_size, const struct snap_fault *fault,
		       struct memfile_info *info, char *err, size_t errlen);

/*
 * Check the whole chain from path down to its full file without mapping
 * anything: every header and range table, every file's size, each parent
 * present with the id and size its child recorded, RAM sizes equal
 * (ram_size, if not 0), depth within MEMFILE_MAX_DEPTH, page sizes this
 * host can map. 0 or -errno with one line in err.
 */
int memfile_check(const char *path, uint64_t ram_size, char *err, size_t errlen);
/*
 * For a diff about to be written at path over parent: memfile_check() of
 * the chain from parent, and none of its files is path (writing there would
 * break the chain). 0 or -errno with err set.
 */
int memfile_check_parent(const char *parent, const char *path, uint64_t ram_size, char *err,
			 size_t errlen);
/*
 * Check as memfile_check(), then map the chain as guest RAM: the full file
 * with mmap(MAP_PRIVATE) at a new address, then each diff's ranges over it
 * with MAP_FIXED, oldest first. Nothing is copied; pages fault in lazily
 * and stay shared with the page cache until written. *addr receives the
 * mapping of ram_size bytes (release with memfile_unmap()). 0 or -errno
 * with err set; nothing stays mapped on failure.
 */
int memfile_map(const char *path, uint64_t ram_size, void **addr, char *err, size_t errlen);
void memfile_unmap(void *addr, uint64_t ram_size);

/*
 * Flatten the chain ending at top into one full file at out (crash-safe;
 * out may name a file of the chain, whose old version stays readable to
 * mappings made before). 0 or -errno with err set.
 */
int memfile_merge(const char *top, const char *out, const struct snap_fault *fault,
		  struct memfile_info *info, char *err, size_t errlen);

/*
 * Command-line entry: argv[0] is "--merge-mem" (argv[1] OUT, argv[2] TOP)
 * or "--mem-info" (argv[1] FILE). Returns the process exit status (0, 1 on
 * failure, 2 on bad usage); messages go to stdout/stderr.
 */
int memfile_tool_main(int argc, char **argv);

#endif
