/* Internals shared by snapshot.c (save), snapshot_restore.c, snapshot_dev.c, snapshot_notify.c. */
#ifndef TORPOR_SNAP_INT_H
#define TORPOR_SNAP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/state.h"

struct vm;
struct vm_config;

/* Per-VM snapshot bookkeeping (vm->snap). */
struct snap_vm {
	char *last_mem;	   /* absolute path: memory file of the last snapshot or the restore */
	bool dirty_log;	   /* KVM_MEM_LOG_DIRTY_PAGES is on for the RAM slot */
	bool ram_file;	   /* RAM is a private mapping of last_mem's chain (pagemap tells writes) */
	bool restored;	   /* restored and not yet run: post-restore work pending */
	uint32_t page_size; /* host page: the dirty log's unit */
	uint64_t *pending; /* dirty-log bits fetched but not yet in a snapshot */
	size_t nwords;
};

/* vm->snap, allocated on first use; NULL on ENOMEM. */
struct snap_vm *snap_vm_get(struct vm *vm);
/* Turn on dirty logging for the RAM slot (once). 0 or -errno. */
int snap_dirty_log_enable(struct vm *vm);
/* path with its directory resolved to an absolute one (malloc'd), or NULL with err. */
char *snap_abs_path(const char *path, char *err, size_t errlen);

/* Every device's section into w. 0 or -errno with err. */
int snap_devices_save(struct vm *vm, struct snap_writer *w, char *err, size_t errlen);
/* Check that s has exactly the device sections cfg's devices need. 0 or -EINVAL with err. */
int snap_devices_check(const struct snap_state *s, const struct vm_config *cfg, char *err,
		       size_t errlen);
/* Every device's state from s. 0 or -errno with err. */
int snap_devices_restore(struct vm *vm, const struct snap_state *s, char *err, size_t errlen);

#endif
