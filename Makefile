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
	-isystem $(SYSROOT)/usr/include -isystem $(SYSROOT)/usr/include/aarch64-linux-gnu
TLDFLAGS := -static -pthread -L$(SYSROOT)/usr/lib/aarch64-linux-gnu

HCC ?= gcc
HCFLAGS := $(CFLAGS_COMMON) -O1 -g -pthread -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
HLDFLAGS := -pthread -fsanitize=address,undefined

VMM_SRCS := $(wildcard vmm/*.c vmm/arch/aarch64/*.c devices/*/*.c snapshot/*.c)
INIT_SRCS := $(wildcard guest-init/*.c)
CLI_SRCS := $(wildcard tools/torpor/*.c) vmm/http.c
BENCH_SRCS := $(wildcard bench/*.c)

VMM_LIBS := -lfdt -ljansson -lhttp_parser
CLI_LIBS := -ljansson -lhttp_parser

BINS := $(BA)/torpor-vmm $(BA)/guest-init $(BA)/torpor $(BA)/torpor-bench-boot

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
	$(TCC) $^ -o $@ $(TLDFLAGS)
$(BA)/torpor: $(CLI_SRCS:%.c=$(BA)/obj/%.o)
	$(TCC) $^ -o $@ $(TLDFLAGS) $(CLI_LIBS)
$(BA)/torpor-bench-boot: $(BA)/obj/bench/boot.o
	$(TCC) $^ -o $@ $(TLDFLAGS)

# Unit tests: tests/unit/test_<module>.c, each linked with the modules
# named in UNIT_<module> (code that needs no KVM and builds for the host).
UNIT_LIBS := -lcmocka -lfdt -ljansson -lhttp_parser
include tests/unit/units.mk
UNIT_TESTS := $(patsubst tests/unit/test_%.c,%,$(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_TESTS:%=$(BH)/test_%)
.SECONDEXPANSION:
unit_objs = $(addprefix $(BH)/obj/,$(UNIT_$(1):.c=.o))
$(BH)/test_%: $(BH)/obj/tests/unit/test_%.o $$(call unit_objs,$$*)
	$(HCC) $^ -o $@ $(HLDFLAGS) $(UNIT_LIBS)

# Guest kernel and rootfs (the kernel is cached outside the clone).
$(B)/guest/Image: tools/build-kernel.sh $(wildcard tools/kernel/*) $(DEPS_STAMP)
	tools/build-kernel.sh $@
$(B)/guest/rootfs.cpio.gz: tools/build-rootfs.sh $(BA)/guest-init $(DEPS_STAMP)
	tools/build-rootfs.sh $@ $(BA)/guest-init
kernel: $(B)/guest/Image
rootfs: $(B)/guest/rootfs.cpio.gz
guest: kernel rootfs

unit: $(UNIT_BINS)
	tests/run-unit.sh $(UNIT_BINS)

integration: all guest
	tests/run-integration.sh

test: all guest $(UNIT_BINS)
	tests/run-all.sh $(UNIT_BINS)

demo: all guest
	tools/demo.sh

bench: all guest
	bench/run.sh

clean:
	rm -rf $(B)

format:
	clang-format -i $(VMM_SRCS) $(INIT_SRCS) $(CLI_SRCS) $(wildcard vmm/*.h vmm/arch/*.h vmm/arch/aarch64/*.h devices/*/*.h tests/unit/*.c)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
