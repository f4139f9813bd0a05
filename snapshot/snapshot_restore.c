/* Snapshot restore: check every file before KVM, then put the state back in order. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "config.h"
#include "log.h"
#include "snapshot/memfile.h"
#include "snapshot/snap_int.h"
#include "snapshot/snapshot.h"
#include "vm.h"

struct snapshot_restore {
	struct snap_state st;
	struct snap_memory m;
	char *state_path; /* absolute */
	char *mem_path;	  /* the top memory file, resolved */
};

void snapshot_restore_free(struct snapshot_restore *r)
{
	if (!r)
		return;
	snap_state_free(&r->st);
	free(r->state_path);
	free(r->mem_path);
	free(r);
}

/* The memory file the state names: absolute, or relative to the state file's directory. */
static char *resolve_mem(const char *state, const char *mem)
{
	char *d, *out = NULL;

	if (mem[0] == '/')
		return strdup(mem);
	d = strdup(state);
	if (d && asprintf(&out, "%s/%s", dirname(d), mem) < 0)
		out = NULL;
	free(d);
	return out;
}

static int load_memory(struct snapshot_restore *r, char *err, size_t errlen)
{
	const struct snap_section *sec = snap_state_find(&r->st, SNAP_SEC_MEMORY, 0);
	struct memfile_info info;
	int rc;

	if (!sec)
		return snap_errf(err, errlen, -EINVAL, "%s: no memory section", r->state_path);
	if (snap_memory_decode(&r->m, sec) < 0)
		return snap_errf(err, errlen, -EINVAL, "%s: bad memory section", r->state_path);
	r->mem_path = resolve_mem(r->state_path, r->m.mem_file);
	if (!r->mem_path)
		return snap_errf(err, errlen, -ENOMEM, "out of memory");
	rc = memfile_probe(r->mem_path, &info, err, errlen);
	if (rc < 0)
		return rc;
	if (memcmp(info.id, r->m.mem_id, sizeof(info.id)))
		return snap_errf(err, errlen, -EINVAL,
				 "%s: not the memory file %s was saved with (its id differs)",
				 r->mem_path, r->state_path);
	return memfile_check(r->mem_path, r->m.ram_size, err, errlen);
}

static int load_config(struct snapshot_restore *r, struct vm_config *cfg, char *err,
		       size_t errlen)
{
	const struct snap_section *sec = snap_state_find(&r->st, SNAP_SEC_CONFIG, 0);
	char name[512];
	int rc;

	if (!sec)
		return snap_errf(err, errlen, -EINVAL, "%s: no config section", r->state_path);
	snprintf(name, sizeof(name), "%s: config", r->state_path);
	rc = config_load_json_text(cfg, (const char *)sec->data, sec->len, name, err, errlen);
	if (rc < 0)
		return rc;
	if (cfg->mem_size != r->m.ram_size || r->m.ram_base != arch_ram_base())
		return snap_errf(err, errlen, -EINVAL,
				 "%s: memory section (0x%llx bytes at 0x%llx) does not match the "
				 "config (0x%llx bytes at 0x%llx)",
				 r->state_path, (unsigned long long)r->m.ram_size,
				 (unsigned long long)r->m.ram_base, (unsigned long long)cfg->mem_size,
				 (unsigned long long)arch_ram_base());
	if (snap_state_count(&r->st, SNAP_SEC_VCPU) != cfg->vcpus)
		return snap_errf(err, errlen, -EINVAL, "%s: %u vcpu sections for %u vCPUs",
				 r->state_path, snap_state_count(&r->st, SNAP_SEC_VCPU), cfg->vcpus);
	for (unsigned int i = 0; i < cfg->vcpus; i++)
		if (!snap_state_find(&r->st, SNAP_SEC_VCPU, i))
			return snap_errf(err, errlen, -EINVAL, "%s: no section vcpu%u",
					 r->state_path, i);
	if (!snap_state_find(&r->st, SNAP_SEC_VM, 0))
		return snap_errf(err, errlen, -EINVAL, "%s: no vm section", r->state_path);
	return 0;
}

static int set(char **dst, const char *v)
{
	char *s = v ? strdup(v) : NULL;

	if (v && !s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Disks: all or none, same order; only path and overlay may change (docs/config.md). */
static int override_disks(struct vm_config *cfg, const struct vm_config *over, char *err,
			  size_t errlen)
{
	if (!over->nr_disks)
		return 0;
	if (over->nr_disks != cfg->nr_disks)
		return snap_errf(err, errlen, -EINVAL,
				 "--disk: the snapshot has %u disk%s: give %s, in order, or none",
				 cfg->nr_disks, cfg->nr_disks == 1 ? "" : "s",
				 cfg->nr_disks == 1 ? "it" : "all of them");
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		struct disk_config *d = &cfg->disks[i];
		const struct disk_config *o = &over->disks[i];

		if (d->read_only != o->read_only || !same(d->serial, o->serial))
			return snap_errf(err, errlen, -EINVAL,
					 "--disk %u: ro and serial must be as saved (%s, serial %s)",
					 i, d->read_only ? "ro" : "rw",
					 d->serial ? d->serial : "none");
		if (set(&d->path, o->path) < 0 || set(&d->overlay, o->overlay) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int apply_overrides(struct vm_config *cfg, const struct vm_config *over, char *err,
			   size_t errlen)
{
	if (set(&cfg->control, over->control) < 0)
		return -ENOMEM;
	cfg->start_paused = over->start_paused;
	cfg->log_level = over->log_level;
	cfg->console_input = over->console_input;
	if (over->vsock.uds) {
		if (!cfg->vsock.uds)
			return snap_errf(err, errlen, -EINVAL, "--vsock: the snapshot has no vsock "
					 "device to change");
		if (set(&cfg->vsock.uds, over->vsock.uds) < 0)
			return -ENOMEM;
		cfg->vsock.cid = over->vsock.cid;
	}
	if (over->net.tap) {
		char *tap = strdup(over->net.tap);

		if (!cfg->net.tap) {
			free(tap);
			return snap_errf(err, errlen, -EINVAL, "--net: the snapshot has no network "
					 "device to change");
		}
		if (!tap)
			return -ENOMEM;
		free(cfg->net.tap);
		cfg->net = over->net;
		cfg->net.tap = tap;
	}
	return override_disks(cfg, over, err, errlen);
}

int snapshot_load(const char *state_path, const struct vm_config *over, struct vm_config *cfg,
		  struct snapshot_restore **out, char *err, size_t errlen)
{
	struct snapshot_restore *r = calloc(1, sizeof(*r));
	int rc;

	config_init(cfg);
	if (!r)
		return snap_errf(err, errlen, -ENOMEM, "out of memory");
	r->state_path = snap_abs_path(state_path, err, errlen);
	if (!r->state_path) {
		rc = -ENOENT;
		goto err;
	}
	rc = snap_state_load(&r->st, r->state_path, SNAP_ARCH_AARCH64, err, errlen);
	if (rc < 0)
		goto err;
	rc = load_memory(r, err, errlen);
	if (rc < 0)
		goto err;
	rc = load_config(r, cfg, err, errlen);
	if (rc < 0)
		goto err;
	rc = apply_overrides(cfg, over, err, errlen);
	if (rc == -ENOMEM)
		snap_errf(err, errlen, rc, "out of memory");
	if (rc < 0)
		goto err;
	rc = snap_devices_check(&r->st, cfg, err, errlen);
	if (rc < 0)
		goto err;
	rc = config_validate(cfg, err, errlen);
	if (rc < 0)
		goto err;
	*out = r;
	return 0;
err:
	config_free(cfg);
	snapshot_restore_free(r);
	return rc;
}

int snapshot_map_ram(struct snapshot_restore *r, uint64_t ram_size, void **ram)
{
	char err[512];
	int rc = memfile_map(r->mem_path, ram_size, ram, err, sizeof(err));

	if (rc < 0)
		pr_err("restore: %s", err);
	return rc;
}

int snapshot_restore_state(struct vm *vm, struct snapshot_restore *r)
{
	const struct snap_section *sec;
	struct snap_vm *sv;
	char err[512] = "";
	int rc = 0;

	for (unsigned int i = 0; i < vm->nr_vcpus && !rc; i++) {
		sec = snap_state_find(&r->st, SNAP_SEC_VCPU, i);
		rc = arch_vcpu_restore(&vm->vcpus[i], sec->data, sec->len, err, sizeof(err));
	}
	if (!rc) {
		sec = snap_state_find(&r->st, SNAP_SEC_VM, 0);
		rc = arch_vm_restore(vm, sec->data, sec->len, err, sizeof(err));
	}
	if (!rc)
		rc = snap_devices_restore(vm, &r->st, err, sizeof(err));
	if (rc < 0) {
		pr_err("restore: %s", *err ? err : strerror(-rc));
		return rc;
	}
	sv = snap_vm_get(vm);
	if (!sv || !(sv->last_mem = strdup(r->mem_path)))
		return -ENOMEM;
	sv->ram_file = true;
	sv->restored = true;
	rc = snap_dirty_log_enable(vm);
	if (rc < 0)
		pr_warn("restore: cannot turn on dirty logging (%s): diff snapshots refused",
			strerror(-rc));
	pr_info("restored from %s (memory %s)", r->state_path, r->mem_path);
	return 0;
}
