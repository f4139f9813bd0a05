# Modules each unit test links with: UNIT_<module> := sources.
# Add one line per tests/unit/test_<module>.c.
UNIT_fdt := vmm/arch/aarch64/fdt.c
UNIT_image := vmm/arch/aarch64/image.c
UNIT_http := vmm/http.c
UNIT_config := vmm/config.c vmm/log.c
UNIT_cmdline := guest-init/cmdline.c
UNIT_vsock := devices/vsock/packet.c devices/vsock/core.c devices/vsock/core_rx.c devices/vsock/line.c vmm/log.c
UNIT_vsock_host := devices/vsock/packet.c devices/vsock/core.c devices/vsock/core_rx.c devices/vsock/line.c devices/vsock/host.c vmm/evloop.c vmm/log.c
UNIT_virtq := devices/virtio/virtq.c
UNIT_overlay := devices/blk/overlay.c
UNIT_config_disk := vmm/config.c vmm/log.c
UNIT_blk_req := devices/blk/blk_req.c devices/virtio/virtq.c
