/* Snapshot save: the order of work, dirty-page tracking, and the two-phase file commit. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "arch/arch.h"
#include "config.h"
#include "kvm.h"
#include "log.h"
#include "snapshot/memfile.h"
#include "snapshot/snap_int.h"
#include "snapshot/snapshot.h"
#include "snapshot/state.h"
#include "vm.h"

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE	   (1ull << 61)
#define PM_CHUNK   4096 /* pagemap entries read at once */
#define TMPFS_MAGIC 0x01021994

struct snap_vm *snap_vm_get(struct vm *vm)
{
	struct snap_vm *sv = vm->snap;
	size_t pages;

	if (sv)
		return sv;
	sv = calloc(1, sizeof(*sv));
	if (!sv)
		return NULL;
	sv->page_size = (uint32_t)getpagesize();
	pages = vm->ram_size / sv->page_size;
	sv->nwords = (pages + 63) / 64;
	sv->pending = calloc(sv->nwords, sizeof(uint64_t));
	if (!sv->pending) {
		free(sv);
		return NULL;
	}
	vm->snap = sv;
	return sv;
}

void snapshot_vm_free(struct vm *vm)
{
	struct snap_vm *sv = vm->snap;

	if (!sv)
		return;
	free(sv->pending);
	free(sv->last_mem);
	free(sv);
	vm->snap = NULL;
}

/* KVM_MEM_LOG_DIRTY_PAGES on the RAM slot: KVM logs every guest write from now on. */
int snap_dirty_log_enable(struct vm *vm)
{
	struct snap_vm *sv = snap_vm_get(vm);
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.flags = KVM_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = vm->ram_base,
		.memory_size = vm->ram_size,
		.userspace_addr = (uint64_t)(uintptr_t)vm->ram,
	};
	int rc;

	if (!sv)
		return -ENOMEM;
	if (sv->dirty_log)
		return 0;
	rc = kvm_ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
	if (rc < 0)
		return rc;
	sv->dirty_log = true;
	return 0;
}

/* Fetch (and clear) KVM's dirty log into sv->pending, which a failed snapshot keeps. */
static int dirty_log_fetch(struct vm *vm, struct snap_vm *sv)
{
	struct kvm_dirty_log log = { .slot = 0 };
	uint64_t *bits;
	int rc;

	if (!sv->dirty_log)
		return 0;
	bits = calloc(sv->nwords, sizeof(uint64_t));
	if (!bits)
		return -ENOMEM;
	log.dirty_bitmap = bits;
	rc = kvm_ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log);
	if (rc == 0)
		for (size_t i = 0; i < sv->nwords; i++)
			sv->pending[i] |= bits[i];
	free(bits);
	return rc;
}

/*
 * Pages of a file-backed RAM mapping that were written since it was mapped,
 * by the guest or by the VMM's devices alike: they are private anonymous
 * copies now. OR'd into bits.
 */
static int pagemap_written(struct vm *vm, struct snap_vm *sv, uint64_t *bits, char *err,
			   size_t errlen)
{
	size_t pages = vm->ram_size / sv->page_size;
	uint64_t *ent;
	int fd, rc = 0;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return snap_errf(err, errlen, -errno, "cannot read /proc/self/pagemap: %s",
				 strerror(errno));
	ent = malloc(PM_CHUNK * sizeof(*ent));
	if (!ent) {
		close(fd);
		return snap_errf(err, errlen, -ENOMEM, "out of memory");
	}
	for (size_t p = 0; p < pages && !rc; p += PM_CHUNK) {
		size_t n = pages - p < PM_CHUNK ? pages - p : PM_CHUNK;
		off_t off = (off_t)(((uintptr_t)vm->ram / sv->page_size + p) * sizeof(*ent));
		ssize_t got = pread(fd, ent, n * sizeof(*ent), off);

		if (got != (ssize_t)(n * sizeof(*ent))) {
			rc = snap_errf(err, errlen, got < 0 ? -errno : -EIO,
				       "/proc/self/pagemap: short read");
			break;
		}
		for (size_t i = 0; i < n; i++)
			if ((ent[i] & (PM_PRESENT | PM_SWAPPED)) && !(ent[i] & PM_FILE))
				bits[(p + i) / 64] |= 1ull << ((p + i) % 64);
	}
	free(ent);
	close(fd);
	return rc;
}

/* path with its directory made absolute (the file itself may not exist yet). malloc'd. */
char *snap_abs_path(const char *path, char *err, size_t errlen)
{
	char *d = strdup(path), *b = strdup(path), *out = NULL;
	char dir[PATH_MAX];

	if (!d || !b) {
		snap_errf(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	if (!*path || path[strlen(path) - 1] == '/') {
		snap_errf(err, errlen, -EINVAL, "\"%s\" is not a file name", path);
		goto out;
	}
	if (!realpath(dirname(d), dir)) {
		snap_errf(err, errlen, -errno, "%s: directory: %s", path, strerror(errno));
		goto out;
	}
	if (asprintf(&out, "%s/%s", strcmp(dir, "/") ? dir : "", basename(b)) < 0)
		out = NULL;
out:
	free(d);
	free(b);
	return out;
}

/* How from (a file) names target (absolute): its basename in the same directory, else target. */
static const char *rel_name(const char *from, const char *target)
{
	const char *fs = strrchr(from, '/'), *ts = strrchr(target, '/');

	if (fs && ts && fs - from == ts - target && !strncmp(from, target, (size_t)(fs - from)))
		return ts + 1;
	return target;
}

/*
 * Replace RAM with a private mapping of the full memory file just written
 * (same contents). Not on a tmpfs with less room than RAM: reading a hole
 * there allocates a page, and a full tmpfs turns that read into SIGBUS
 * (-EXDEV: skipped).
 */
static int remap_onto(struct vm *vm, const char *mem)
{
	int fd = open(mem, O_RDONLY | O_CLOEXEC);
	struct statfs sfs;
	void *p;

	if (fd < 0)
		return -errno;
	if (fstatfs(fd, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC &&
	    (uint64_t)sfs.f_bavail * (uint64_t)sfs.f_bsize < vm->ram_size) {
		close(fd);
		return -EXDEV;
	}
	p = mmap(vm->ram, vm->ram_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, MEMFILE_DATA_OFFSET);
	close(fd);
	return p == MAP_FAILED ? -errno : 0;
}

static int add_blob(struct snap_writer *w, uint32_t id, uint32_t inst, int rc, uint8_t *blob,
		    size_t len, char *err, size_t errlen)
{
	char label[32];

	if (rc < 0) {
		free(blob);
		return snap_errf(err, errlen, rc, "saving %s failed: %s",
				 snap_section_label(id, inst, label, sizeof(label)), strerror(-rc));
	}
	rc = snap_writer_add(w, id, inst, 1, blob, len, err, errlen);
	free(blob);
	return rc;
}

/*
 * Every section but memory. Devices first: a disk's save finishes its
 * in-flight requests, whose completions write RAM and raise interrupt lines,
 * so the vCPUs and the vGIC are read after them and see those lines.
 */
static int save_sections(struct vm *vm, struct snap_writer *w, char *err, size_t errlen)
{
	char *json = config_to_json(vm->cfg);
	int rc;

	if (!json)
		return snap_errf(err, errlen, -ENOMEM, "config: out of memory");
	rc = snap_writer_add(w, SNAP_SEC_CONFIG, 0, 1, json, strlen(json), err, errlen);
	free(json);
	if (!rc)
		rc = snap_devices_save(vm, w, err, errlen);
	for (unsigned int i = 0; i < vm->nr_vcpus && !rc; i++) {
		uint8_t *blob = NULL;
		size_t len = 0;

		rc = arch_vcpu_save(&vm->vcpus[i], &blob, &len);
		rc = add_blob(w, SNAP_SEC_VCPU, i, rc, blob, len, err, errlen);
	}
	if (!rc) {
		uint8_t *blob = NULL;
		size_t len = 0;

		rc = arch_vm_save(vm, &blob, &len);
		rc = add_blob(w, SNAP_SEC_VM, 0, rc, blob, len, err, errlen);
	}
	return rc;
}

static int write_memory(struct vm *vm, struct snap_vm *sv, const char *tmp, bool diff,
			struct memfile_info *info, char *err, size_t errlen)
{
	uint64_t *bits;
	int rc;

	rc = dirty_log_fetch(vm, sv);
	if (rc < 0)
		return snap_errf(err, errlen, rc, "KVM_GET_DIRTY_LOG: %s", strerror(-rc));
	if (!diff)
		return memfile_write_full(tmp, vm->ram, vm->ram_size, NULL, info, err, errlen);
	bits = malloc(sv->nwords * sizeof(uint64_t));
	if (!bits)
		return snap_errf(err, errlen, -ENOMEM, "out of memory");
	memcpy(bits, sv->pending, sv->nwords * sizeof(uint64_t));
	rc = pagemap_written(vm, sv, bits, err, errlen);
	if (!rc)
		rc = memfile_write_diff(tmp, rel_name(tmp, sv->last_mem), vm->ram, vm->ram_size,
					bits, sv->page_size, NULL, info, err, errlen);
	free(bits);
	return rc;
}

static int check_request(struct vm *vm, struct snap_vm *sv, const char *st, const char *mem,
			 bool diff, char *err, size_t errlen)
{
	if (!strcmp(st, mem))
		return snap_errf(err, errlen, -EINVAL, "state_path and mem_path are the same file");
	if (!diff)
		return 0;
	if (!sv->last_mem)
		return snap_errf(err, errlen, -ENOENT,
				 "no earlier snapshot or restore of this VM to take a diff "
				 "against: take a full snapshot first");
	if (!sv->ram_file || !sv->dirty_log)
		return snap_errf(err, errlen, -ENOENT,
				 "written pages are not tracked since the last snapshot: take a "
				 "full snapshot");
	return memfile_check_parent(sv->last_mem, mem, vm->ram_size, err, errlen);
}

static void fsync_dir_of(const char *path)
{
	char *d = strdup(path);
	int fd;

	if (!d)
		return;
	fd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) < 0)
			pr_warn("snapshot: fsync of %s: %s", d, strerror(errno));
		close(fd);
	}
	free(d);
}

/* Both files are complete under their .partial names: move them into place. */
static int publish(const char *mem_tmp, const char *mem, const char *st_tmp, const char *st,
		   char *err, size_t errlen)
{
	if (rename(mem_tmp, mem) < 0)
		return snap_errf(err, errlen, -errno, "rename %s: %s", mem, strerror(errno));
	if (rename(st_tmp, st) < 0)
		return snap_errf(err, errlen, -errno, "rename %s: %s", st, strerror(errno));
	fsync_dir_of(mem);
	fsync_dir_of(st);
	return 0;
}

/* After a snapshot landed: it is the new base of diffs; tracking starts over. */
static void after_success(struct vm *vm, struct snap_vm *sv, char *mem, bool diff)
{
	int rc;

	free(sv->last_mem);
	sv->last_mem = mem;
	memset(sv->pending, 0, sv->nwords * sizeof(uint64_t));
	rc = snap_dirty_log_enable(vm);
	if (rc < 0) {
		pr_warn("snapshot: cannot turn on dirty logging (%s): later diffs refused",
			strerror(-rc));
		return;
	}
	if (!diff) {
		rc = remap_onto(vm, mem);
		if (rc == -EXDEV && !sv->ram_file)
			pr_info("snapshot: %s is on a tmpfs with less room than RAM: RAM stays "
				"anonymous, so diffs over it are refused", mem);
		else if (rc < 0 && rc != -EXDEV)
			pr_warn("snapshot: cannot map RAM over %s (%s): later diffs refused", mem,
				strerror(-rc));
		/* Still a private mapping of an older chain: pagemap tells every write since. */
		sv->ram_file = rc == 0 || (rc == -EXDEV && sv->ram_file);
	}
}

static int create_files(struct vm *vm, struct snap_vm *sv, struct snap_writer *w,
			const char *st, const char *mem, bool diff, char *err, size_t errlen)
{
	struct snap_memory m = { .ram_base = vm->ram_base, .ram_size = vm->ram_size };
	struct memfile_info info;
	struct snap_buf b;
	char *mem_tmp = NULL, *st_tmp = NULL;
	int rc;

	if (asprintf(&mem_tmp, "%s.partial", mem) < 0 || asprintf(&st_tmp, "%s.partial", st) < 0) {
		rc = snap_errf(err, errlen, -ENOMEM, "out of memory");
		goto out;
	}
	rc = write_memory(vm, sv, mem_tmp, diff, &info, err, errlen);
	if (rc < 0)
		goto out;
	memcpy(m.mem_id, info.id, sizeof(m.mem_id));
	snprintf(m.mem_file, sizeof(m.mem_file), "%s", rel_name(st, mem));
	snap_buf_init(&b);
	rc = snap_memory_encode(&m, &b);
	if (!rc)
		rc = snap_writer_add(w, SNAP_SEC_MEMORY, 0, SNAP_MEMORY_VERSION, b.data, b.len, err,
				     errlen);
	snap_buf_free(&b);
	if (!rc)
		rc = snap_writer_commit(w, st_tmp, NULL, err, errlen);
	if (!rc)
		rc = publish(mem_tmp, mem, st_tmp, st, err, errlen);
	if (rc < 0) {
		unlink(mem_tmp);
		unlink(st_tmp);
	}
out:
	free(mem_tmp);
	free(st_tmp);
	return rc;
}

int snapshot_create(struct vm *vm, const char *state_path, const char *mem_path, bool diff,
		    char *err, size_t errlen)
{
	struct snap_writer w;
	struct snap_vm *sv;
	char *st = NULL, *mem = NULL;
	int rc;

	if (vm_get_state(vm) != VM_STATE_PAUSED)
		return snap_errf(err, errlen, -EBUSY, "the VM is %s: pause it first",
				 vm_state_name(vm_get_state(vm)));
	sv = snap_vm_get(vm);
	if (!sv)
		return snap_errf(err, errlen, -ENOMEM, "out of memory");
	st = snap_abs_path(state_path, err, errlen);
	mem = st ? snap_abs_path(mem_path, err, errlen) : NULL;
	if (!mem) {
		free(st);
		return -EINVAL;
	}
	rc = check_request(vm, sv, st, mem, diff, err, errlen);
	if (rc < 0)
		goto out;
	rc = snap_writer_init(&w, SNAP_ARCH_AARCH64);
	if (rc < 0)
		goto out;
	rc = save_sections(vm, &w, err, errlen);
	if (!rc)
		rc = create_files(vm, sv, &w, st, mem, diff, err, errlen);
	snap_writer_free(&w);
	if (rc < 0)
		goto out;
	pr_info("snapshot: %s snapshot written: %s, %s", diff ? "diff" : "full", st, mem);
	after_success(vm, sv, mem, diff);
	mem = NULL;
out:
	if (rc < 0)
		pr_err("snapshot: %s", err);
	free(st);
	free(mem);
	return rc;
}
