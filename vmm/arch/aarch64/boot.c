/* aarch64 boot: Image, initrd and device tree into RAM; vCPU 0 at the kernel entry. */
#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/aarch64/arch_vm.h"
#include "arch/aarch64/fdt.h"
#include "arch/aarch64/image.h"
#include "arch/aarch64/layout.h"
#include "arch/arch.h"
#include "log.h"
#include "vm.h"

#define CORE_REG(name) \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(name))
/* EL1h, with debug, SError, IRQ and FIQ masked: the arm64 boot protocol's entry state. */
#define PSTATE_BOOT 0x3c5ull

#define RNG_SEED_LEN 64

/* Read the whole of fd (size bytes) into dst. 0, or -errno / -EIO on a short file. */
static int read_all(int fd, void *dst, uint64_t size)
{
	uint8_t *p = dst;

	while (size) {
		ssize_t n = pread(fd, p, size > (1u << 30) ? (1u << 30) : size,
				  p - (uint8_t *)dst);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		size -= (uint64_t)n;
	}
	return 0;
}

static int open_input(const char *what, const char *path, uint64_t *size)
{
	struct stat st;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		pr_err("%s: %s: %s", what, path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		pr_err("%s: %s: not a regular file", what, path);
		close(fd);
		return -EINVAL;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

/* Copy a file into guest RAM at gpa, bounds-checked. */
static int load_file(struct vm *vm, const char *what, const char *path, int fd, uint64_t gpa,
		     uint64_t size)
{
	void *dst = vm_gpa_to_hva(vm, gpa, size);
	int rc;

	if (!dst) {
		pr_err("%s: %s does not fit in guest RAM at 0x%llx", what, path,
		       (unsigned long long)gpa);
		return -E2BIG;
	}
	rc = read_all(fd, dst, size);
	if (rc < 0)
		pr_err("%s: %s: %s", what, path, rc == -EIO ? "file shrank while reading" :
			strerror(-rc));
	return rc;
}

static int build_fdt(struct vm *vm, const struct boot_layout *lay)
{
	uint8_t seed[RNG_SEED_LEN];
	struct fdt_virtio_dev virtio[VM_MAX_VIRTIO];
	uint64_t *mpidr;
	struct fdt_params p = {
		.ram_base = vm->ram_base,
		.ram_size = vm->ram_size,
		.nr_cpus = vm->nr_vcpus,
		.bootargs = vm->cfg->cmdline ? vm->cfg->cmdline : CONFIG_DEFAULT_CMDLINE,
		.initrd_start = lay->initrd_addr,
		.initrd_size = lay->initrd_size,
		.rng_seed = seed,
		.rng_seed_len = sizeof(seed),
		.nr_virtio = vm->nr_virtio,
		.virtio = virtio,
	};
	void *buf, *dst;
	int rc;

	if (getrandom(seed, sizeof(seed), 0) != sizeof(seed))
		return -EIO;
	for (unsigned int i = 0; i < vm->nr_virtio; i++)
		virtio[i] = (struct fdt_virtio_dev){
			.base = vm->virtio[i].base,
			.size = vm->virtio[i].size,
			.spi = vm->virtio[i].irq,
		};
	mpidr = calloc(vm->nr_vcpus, sizeof(*mpidr));
	buf = calloc(1, AARCH64_FDT_MAX);
	if (!mpidr || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		mpidr[i] = vm->vcpus[i].mpidr;
	p.mpidr = mpidr;
	rc = aarch64_fdt_build(&p, buf, AARCH64_FDT_MAX);
	if (rc < 0) {
		pr_err("device tree: %s", strerror(-rc));
		goto out;
	}
	vm->arch->dtb_size = fdt_totalsize(buf);
	dst = vm_gpa_to_hva(vm, lay->fdt_addr, vm->arch->dtb_size);
	if (!dst) {
		rc = -E2BIG;
		goto out;
	}
	memcpy(dst, buf, vm->arch->dtb_size);
	vm->arch->dtb = buf;
	buf = NULL;
out:
	free(buf);
	free(mpidr);
	return rc;
}

int arch_load_guest(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	uint8_t hdr[64];
	struct arm64_image img;
	struct boot_layout lay;
	uint64_t ksize, isize = 0;
	int kfd, ifd = -1, rc;
	ssize_t n;
	char err[256];

	kfd = open_input("kernel", cfg->kernel, &ksize);
	if (kfd < 0)
		return kfd;
	n = pread(kfd, hdr, sizeof(hdr), 0);
	if (n < 0) {
		rc = -errno;
		pr_err("kernel: %s: %s", cfg->kernel, strerror(-rc));
		goto out;
	}
	rc = arm64_image_parse(hdr, (size_t)n, ksize, &img, err, sizeof(err));
	if (rc < 0) {
		pr_err("%s: %s", cfg->kernel, err);
		goto out;
	}
	if (cfg->initrd) {
		ifd = open_input("initrd", cfg->initrd, &isize);
		if (ifd < 0) {
			rc = ifd;
			goto out;
		}
	}
	rc = aarch64_boot_layout(vm->ram_base, vm->ram_size, &img, isize, &lay, err, sizeof(err));
	if (rc < 0) {
		pr_err("%s", err);
		goto out;
	}
	rc = load_file(vm, "kernel", cfg->kernel, kfd, lay.kernel_addr, ksize);
	if (rc < 0)
		goto out;
	if (ifd >= 0) {
		rc = load_file(vm, "initrd", cfg->initrd, ifd, lay.initrd_addr, isize);
		if (rc < 0)
			goto out;
	}
	rc = build_fdt(vm, &lay);
	if (rc < 0)
		goto out;
	pr_debug("kernel at 0x%llx, initrd at 0x%llx (%llu bytes), fdt at 0x%llx",
		 (unsigned long long)lay.kernel_addr, (unsigned long long)lay.initrd_addr,
		 (unsigned long long)isize, (unsigned long long)lay.fdt_addr);

	/* vCPU 0 enters the kernel with x0 = FDT, x1..x3 = 0 (its reset state). */
	rc = aarch64_set_core_reg(&vm->vcpus[0], CORE_REG(regs.pstate), PSTATE_BOOT);
	if (!rc)
		rc = aarch64_set_core_reg(&vm->vcpus[0], CORE_REG(regs.pc), lay.kernel_addr);
	if (!rc)
		rc = aarch64_set_core_reg(&vm->vcpus[0], CORE_REG(regs.regs[0]), lay.fdt_addr);
out:
	if (ifd >= 0)
		close(ifd);
	close(kfd);
	return rc;
}

int arch_dump_dtb(struct vm *vm, const char *path)
{
	FILE *f;
	int rc = 0;

	f = fopen(path, "wb");
	if (!f) {
		rc = -errno;
		pr_err("--dump-dtb: %s: %s", path, strerror(-rc));
		return rc;
	}
	if (fwrite(vm->arch->dtb, 1, vm->arch->dtb_size, f) != vm->arch->dtb_size)
		rc = -EIO;
	if (fclose(f) != 0 && !rc)
		rc = -errno;
	if (rc)
		pr_err("--dump-dtb: %s: %s", path, strerror(-rc));
	return rc;
}
