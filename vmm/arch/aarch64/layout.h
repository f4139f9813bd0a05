/* The aarch64 guest physical memory map: the one place its constants live. */
#ifndef TORPOR_AARCH64_LAYOUT_H
#define TORPOR_AARCH64_LAYOUT_H

/*
 * Guest physical address space (see docs/memory-map.md):
 *
 *   0x0000_0000 +------------------------------+
 *               | unmapped (faults to the VMM) |
 *   0x0800_0000 +------------------------------+
 *               | GICv3 distributor   64 KiB   |
 *   0x0810_0000 +------------------------------+
 *               | GICv3 redistributors         |
 *               |   128 KiB per vCPU           |
 *   0x1000_0000 +------------------------------+  (room for 1016 vCPUs)
 *               | unmapped                     |
 *   0x4000_0000 +------------------------------+
 *               | 16550 UART          4 KiB    |  SPI 0
 *   0x4000_1000 | RTC (reserved)      4 KiB    |  SPI 1
 *   0x4001_0000 | virtio-mmio windows 4 KiB    |  SPI 16 + n
 *               |   one per device             |
 *   0x8000_0000 +------------------------------+
 *               | guest RAM                    |
 *               |   kernel at base+text_offset |
 *               |   initrd below the FDT       |
 *               |   FDT in the top 2 MiB       |
 *   RAM end     +------------------------------+
 */

#define AARCH64_GICD_BASE      0x08000000ull
#define AARCH64_GICD_SIZE      0x00010000ull
#define AARCH64_GICR_BASE      0x08100000ull
#define AARCH64_GICR_STRIDE    0x00020000ull /* per vCPU: RD + SGI frames */
#define AARCH64_GICR_END       0x10000000ull
#define AARCH64_GICR_MAX_VCPUS ((AARCH64_GICR_END - AARCH64_GICR_BASE) / AARCH64_GICR_STRIDE)

#define AARCH64_UART_BASE      0x40000000ull
#define AARCH64_UART_SIZE      0x00001000ull
#define AARCH64_UART_SPI       0
#define AARCH64_UART_CLOCK     1843200

#define AARCH64_VIRTIO_BASE    0x40010000ull
#define AARCH64_VIRTIO_SIZE    0x00001000ull
#define AARCH64_VIRTIO_SPI     16
#define AARCH64_VIRTIO_MAX     32

#define AARCH64_NR_SPIS        64 /* SPIs offered by the vGIC (INTIDs 32..95) */

#define AARCH64_RAM_BASE       0x80000000ull
/* 40-bit IPA space, which every KVM host offers by default. */
#define AARCH64_IPA_END        (1ull << 40)
#define AARCH64_RAM_MAX        (AARCH64_IPA_END - AARCH64_RAM_BASE)

#define AARCH64_KERNEL_ALIGN   (2ull << 20) /* Image base: 2 MiB aligned */
#define AARCH64_FDT_MAX        (2ull << 20) /* dtb at most 2 MiB, in its own 2 MiB block */
#define AARCH64_INITRD_ALIGN   0x1000ull

#endif
