/*
 * The order of work for snapshot save and restore (docs/api-vmm.md,
 * docs/snapshot-format.md). Knows no device internals: each component saves
 * and restores its own section.
 */
#ifndef TORPOR_SNAPSHOT_H
#define TORPOR_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vm_config;
struct snapshot_restore;

/*
 * Take a snapshot of vm, which must be paused: every component's state to
 * state_path, guest RAM to mem_path (diff: only the pages written since the
 * last snapshot or the restore, over that memory file). The VM stays paused
 * and resumable whatever happens; on failure no file at either path changed.
 * Returns 0, or -errno with one line in err: -EBUSY (not paused), -ENOENT
 * (diff without an earlier snapshot or restore), -EINVAL (bad paths), or the
 * I/O error (-ENOSPC...).
 */
int snapshot_create(struct vm *vm, const char *state_path, const char *mem_path, bool diff,
		    char *err, size_t errlen);

/*
 * Load and check everything a restore needs before KVM is touched: the state
 * file, the memory file chain, the saved config, and that the sections match
 * it. over holds the command-line overrides (docs/config.md): vsock, net,
 * disks, control, start_paused, log_level, console_input. On success *cfg is
 * the config to build the VM from (free with config_free) and *out the loaded
 * snapshot. 0 or -errno with one line in err.
 */
int snapshot_load(const char *state_path, const struct vm_config *over, struct vm_config *cfg,
		  struct snapshot_restore **out, char *err, size_t errlen);
void snapshot_restore_free(struct snapshot_restore *r);

/* Map the snapshot's memory chain as guest RAM (no copy). 0 or -errno, logged. */
int snapshot_map_ram(struct snapshot_restore *r, uint64_t ram_size, void **ram);

/*
 * Put the saved state into vm, built from the snapshot's config with its RAM
 * from snapshot_map_ram() and no vCPU started: vCPUs, arch VM state, devices.
 * Turns on dirty logging for later diff snapshots. 0 or -errno, logged.
 */
int snapshot_restore_state(struct vm *vm, struct snapshot_restore *r);

/*
 * Once a restored VM first runs: reset vsock transports and, from a detached
 * thread, tell the guest agent it was restored (entropy, the host's time).
 */
void snapshot_after_restore_run(struct vm *vm);

/* Free vm's snapshot bookkeeping (vm->snap). */
void snapshot_vm_free(struct vm *vm);

#endif
