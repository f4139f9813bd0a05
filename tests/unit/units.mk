# Modules each unit test links with: UNIT_<module> := sources.
# Add one line per tests/unit/test_<module>.c.
UNIT_fdt := vmm/arch/aarch64/fdt.c
UNIT_image := vmm/arch/aarch64/image.c
UNIT_http := vmm/http.c
UNIT_config := vmm/config.c vmm/log.c
UNIT_cmdline := guest-init/cmdline.c
