# torpor build. `make` builds the static aarch64 binaries; `make test` runs
# the unit tests (build machine, ASan/UBSan) and the integration tests on
# real KVM (inside the test host on x86_64, directly on arm64 with /dev/kvm).

HOST_ARCH := $(shell uname -m)
ifeq ($(HOST_ARCH),aarch64)
CROSS ?=
else
CROSS ?= aarch64-linux-gnu-
endif

TORPOR_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/torpor
export TORPOR_CACHE
SYSROOT := $(TORPOR_CACHE)/sysroot-arm64
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

B := build
BA := $(B)/aarch64
BH := $(B)/host
DEPS_STAMP := $(B)/.deps-ok

WARN := -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes \
	-Wshadow -Wpointer-arith -Wcast-align -Wwrite-strings -Wundef \
	-Wformat=2 -Wvla -Wno-unused-parameter -Wno-missing-field-initializers
CSTD := -std=gnu11 -D_GNU_SOURCE
INCS := -I. -Ivmm
CFLAGS_COMMON := $(CSTD) $(WARN) $(INCS) -DTORPOR_VERSION='"$(VERSION)"'

TCC := $(CROSS)gcc
TCFLAGS := $(CFLAGS_COMMON) -O2 -g -pthread \
	-isystem $(SYSROOT)/usr/include -isystem $(SYSROOT)/usr/include/aarch64-linux-gnu \
	-isystem $(SYSROOT)/usr/include/libnl3
TLDFLAGS := -static -pthread -L$(SYSROOT)/usr/lib/aarch64-linux-gnu -L$(SYSROOT)/lib/aarch64-linux-gnu

HCC ?= gcc
HCFLAGS := $(CFLAGS_COMMON) -O1 -g -pthread -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
HLDFLAGS := -pthread -fsanitize=address,undefined

VMM_SRCS := $(wildcard vmm/*.c vmm/arch/aarch64/*.c devices/*/*.c snapshot/*.c tools/torpor/agent_*.c) guest-init/proto.c
INIT_SRCS := $(wildcard guest-init/*.c)
CLI_SRCS := $(wildcard tools/torpor/*.c) vmm/http.c guest-init/proto.c
BENCH_SRCS := $(wildcard bench/*.c)

VMM_LIBS := -lfdt -ljansson -lhttp_parser -luring -lnl-route-3 -lnl-3 -lpthread -lm
CLI_LIBS := -ljansson -lhttp_parser

BINS := $(BA)/torpor-vmm $(BA)/guest-init $(BA)/torpor $(BA)/torpor-bench-boot
BINS += $(BA)/torpor-bench-blk

.PHONY: all deps kernel rootfs guest test unit integration demo bench fuzz clean format
all: $(BINS)

$(DEPS_STAMP): tools/deps.sh
	@mkdir -p $(B)
	tools/deps.sh
	@touch $@
deps: $(DEPS_STAMP)

$(BA)/obj/%.o: %.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(TCC) $(TCFLAGS) -MMD -MP -c $< -o $@

$(BH)/obj/%.o: %.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(HCC) $(HCFLAGS) -MMD -MP -c $< -o $@

$(BA)/torpor-vmm: $(VMM_SRCS:%.c=$(BA)/obj/%.o)
	$(TCC) $^ -o $@ $(TLDFLAGS) $(VMM_LIBS)
$(BA)/guest-init: $(INIT_SRCS:%.c=$(BA)/obj/%.o)
	$(TCC) $^ -o $@ $(TLDFLAGS) -ljansson
$(BA)/torpor: $(CLI_SRCS:%.c=$(BA)/obj/%.o)
	$(TCC) $^ -o $@ $(TLDFLAGS) $(CLI_LIBS)
$(BA)/torpor-bench-boot: $(BA)/obj/bench/boot.o
	$(TCC) $^ -o $@ $(TLDFLAGS)

# Host-side test clients: tests/host/<name>_host.c → $(BA)/torpor-test-<name>
# (static aarch64; part of `all`, so the test host carries them).
HOST_TOOLS := $(patsubst tests/host/%_host.c,$(BA)/torpor-test-%,$(wildcard tests/host/*_host.c))
all: $(HOST_TOOLS)
$(BA)/torpor-test-%: tests/host/%_host.c $(DEPS_STAMP)
	@mkdir -p $(BA)/obj/tests/host
	$(TCC) $(TCFLAGS) -MMD -MP -MF $(BA)/obj/tests/host/$*.d -MT $@ $< -o $@ $(TLDFLAGS)
# The guest's /bin/blkbench, built again for the VMM's side of bench/part-blk.sh.
$(BA)/torpor-bench-blk: tests/guest/blkbench.c $(DEPS_STAMP)
	$(TCC) $(TCFLAGS) $< -o $@ $(TLDFLAGS)

# Unit tests: tests/unit/test_<module>.c, each linked with the modules
# named in UNIT_<module> (code that needs no KVM and builds for the host).
UNIT_LIBS := -lcmocka -lfdt -ljansson -lhttp_parser
include tests/unit/units.mk
UNIT_TESTS := $(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_TESTS:%=$(BH)/test_%)
.SECONDEXPANSION:
# Keep every object (no intermediate-file deletion after the test summary).
.SECONDARY:
unit_objs = $(addprefix $(BH)/obj/,$(UNIT_$(1):.c=.o))
$(BH)/test_%: $(BH)/obj/tests/unit/test_%.o $$(call unit_objs,$$*)
	$(HCC) $^ -o $@ $(HLDFLAGS) $(UNIT_LIBS)

# Fuzzing: one libFuzzer target per parser of outside input,
# tests/fuzz/fuzz_<target>.c linked with the modules in FUZZ_<target> and the
# libraries in FUZZ_LIBS_<target>, built with clang for the build machine
# (libFuzzer + ASan + UBSan) into build/fuzz/. `make fuzz` runs each target for
# FUZZ_SECONDS from a copy of its seeds (tests/fuzz/corpus/<target>/);
# `make fuzz-quick` runs each for FUZZ_QUICK_SECONDS (as `make test` does);
# `make fuzz-build` only builds. FUZZ_TARGETS picks some. See docs/fuzzing.md.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_QUICK_SECONDS ?= 5
FUZZ_CFLAGS := $(CSTD) $(WARN) $(INCS) -DTORPOR_VERSION='"$(VERSION)"' \
	-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all
FUZZ_http := vmm/http.c
FUZZ_LIBS_http := -lhttp_parser
FUZZ_config := vmm/config.c vmm/config_net.c vmm/log.c
FUZZ_LIBS_config := -ljansson -Wl,--wrap=fopen
FUZZ_image := vmm/arch/aarch64/image.c
FUZZ_cmdline := guest-init/cmdline.c
FUZZ_vsock := devices/vsock/packet.c devices/vsock/core.c devices/vsock/core_rx.c devices/vsock/line.c vmm/log.c
FUZZ_virtq := devices/virtio/virtq.c
FUZZ_blk := devices/blk/blk_req.c devices/virtio/virtq.c
FUZZ_agent_frame := guest-init/proto.c guest-init/agent_req.c
FUZZ_LIBS_agent_frame := -ljansson
FUZZ_snap_state := snapshot/buf.c snapshot/state.c snapshot/state_read.c snapshot/atomic.c snapshot/memfile.c
FUZZ_TARGETS ?= http config image cmdline vsock virtq blk agent_frame snap_state
FUZZ_BINS := $(FUZZ_TARGETS:%=$(B)/fuzz/fuzz_%)
FUZZ_HDRS := $(wildcard vmm/*.h vmm/arch/aarch64/*.h guest-init/*.h)
FUZZ_HDRS += $(wildcard devices/vsock/*.h)
FUZZ_HDRS += $(wildcard devices/virtio/*.h devices/blk/*.h)
FUZZ_HDRS += $(wildcard snapshot/*.h)

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_$$*) $(FUZZ_HDRS) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(FUZZ_$*) -o $@ $(FUZZ_LIBS_$*)

.PHONY: fuzz-build fuzz-quick
fuzz-build: $(FUZZ_BINS)
fuzz: $(FUZZ_BINS)
	tests/run-fuzz.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)
fuzz-quick: $(FUZZ_BINS)
	tests/run-fuzz.sh $(FUZZ_QUICK_SECONDS) $(FUZZ_TARGETS)

# Guest kernel and rootfs (the kernel is cached outside the clone).
$(B)/guest/Image: tools/build-kernel.sh $(wildcard tools/kernel/*) $(DEPS_STAMP)
	tools/build-kernel.sh $@
$(B)/guest/rootfs.cpio.gz: tools/build-rootfs.sh $(BA)/guest-init $(DEPS_STAMP)
	tools/build-rootfs.sh $@ $(BA)/guest-init
# The ext4 root for a guest booted from virtio-blk (root=/dev/vda), with the
# guest-side test helpers (tests/guest/*.c, static aarch64) in its /bin.
ROOTFS_EXT4_MIB ?= 128
GUEST_TOOLS := $(patsubst tests/guest/%.c,$(B)/guest/tools/%,$(wildcard tests/guest/*.c))
$(B)/guest/tools/%: tests/guest/%.c $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(TCC) $(TCFLAGS) $< -o $@ $(TLDFLAGS)
$(B)/guest/tools/vsock_tool: tests/common/vsock_xfer.h
$(B)/guest/rootfs.ext4: tools/build-rootfs.sh $(BA)/guest-init $(GUEST_TOOLS) $(DEPS_STAMP)
	tools/build-rootfs.sh --ext4 $@ $(ROOTFS_EXT4_MIB) $(BA)/guest-init $(GUEST_TOOLS)
kernel: $(B)/guest/Image
rootfs: $(B)/guest/rootfs.cpio.gz $(B)/guest/rootfs.ext4
guest: kernel rootfs

unit: $(UNIT_BINS)
	tests/run-unit.sh $(UNIT_BINS)

integration: all guest
	tests/run-integration.sh

test: all guest $(UNIT_BINS) $(FUZZ_BINS)
	FUZZ_TARGETS="$(FUZZ_TARGETS)" FUZZ_QUICK_SECONDS=$(FUZZ_QUICK_SECONDS) tests/run-all.sh $(UNIT_BINS)

demo: all guest
	tools/demo.sh

bench: all guest
	bench/run.sh

clean:
	rm -rf $(B)

format:
	clang-format -i $(VMM_SRCS) $(INIT_SRCS) $(CLI_SRCS) $(wildcard vmm/*.h vmm/arch/*.h vmm/arch/aarch64/*.h devices/*/*.h tests/unit/*.c)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
