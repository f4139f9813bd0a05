/* Messages of the aarch64 snapshot codecs: KVM register ids as names, one-line errors. */
#include <stdarg.h>
#include <stdio.h>

#include "arch/aarch64/snap.h"

int aarch64_snap_errf(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static void core_name(unsigned int off, char *buf, size_t size)
{
	static const char *const named[] = {
	    [62] = "sp", [64] = "pc", [66] = "pstate", [68] = "sp_el1", [70] = "elr_el1"};

	/* Offsets in 32-bit words into struct kvm_regs. */
	if (off < 62 && !(off % 2))
		snprintf(buf, size, "x%u", off / 2);
	else if (off < sizeof(named) / sizeof(named[0]) && named[off])
		snprintf(buf, size, "%s", named[off]);
	else if (off >= 72 && off <= 80 && !(off % 2))
		snprintf(buf, size, "spsr[%u]", (off - 72) / 2);
	else if (off >= 84 && off < 212 && !(off % 4))
		snprintf(buf, size, "v%u", (off - 84) / 4);
	else if (off == 212 || off == 213)
		snprintf(buf, size, "%s", off == 212 ? "fpsr" : "fpcr");
	else
		snprintf(buf, size, "core[%u]", off);
}

static const struct {
	uint64_t id;
	const char *name;
} sysreg_names[] = {
    {A64_SYSREG(3ull, 0ull, 0ull, 0ull, 0ull), "MIDR_EL1"},
    {A64_REG_MPIDR_EL1, "MPIDR_EL1"},
    {A64_SYSREG(3ull, 0ull, 0ull, 0ull, 6ull), "REVIDR_EL1"},
    {A64_SYSREG(3ull, 1ull, 0ull, 0ull, 1ull), "CLIDR_EL1"},
    {A64_SYSREG(3ull, 1ull, 0ull, 0ull, 7ull), "AIDR_EL1"},
    {A64_SYSREG(3ull, 3ull, 0ull, 0ull, 1ull), "CTR_EL0"},
    {A64_REG_TIMER_CTL, "TIMER_CTL (CNTV_CTL_EL0)"},
    {A64_REG_TIMER_CNT, "TIMER_CNT (CNTVCT_EL0)"},
    {A64_REG_TIMER_CVAL, "TIMER_CVAL (CNTV_CVAL_EL0)"},
};

static void sysreg_name(uint64_t id, char *buf, size_t size)
{
	unsigned int e = (unsigned int)(id & 0xffff);

	for (size_t i = 0; i < sizeof(sysreg_names) / sizeof(sysreg_names[0]); i++) {
		if (sysreg_names[i].id == id) {
			snprintf(buf, size, "%s", sysreg_names[i].name);
			return;
		}
	}
	snprintf(buf, size, "S%u_%u_C%u_C%u_%u", e >> 14, (e >> 11) & 7, (e >> 7) & 15,
		 (e >> 3) & 15, e & 7);
}

void aarch64_reg_name(uint64_t id, char *buf, size_t size)
{
	static const char *const fw[] = {"PSCI_VERSION", "SMCCC_ARCH_WORKAROUND_1",
					 "SMCCC_ARCH_WORKAROUND_2", "SMCCC_ARCH_WORKAROUND_3"};
	unsigned int low = (unsigned int)(id & 0xffff);

	switch (id & A64_REG_CLASS_MASK) {
	case A64_REG_CORE:
		core_name(low, buf, size);
		break;
	case A64_REG_SYSREG:
		sysreg_name(id, buf, size);
		break;
	case A64_REG_DEMUX:
		snprintf(buf, size, "CCSIDR[%u]", low & 0xff);
		break;
	case A64_REG_FW:
		if (low < sizeof(fw) / sizeof(fw[0]))
			snprintf(buf, size, "%s", fw[low]);
		else
			snprintf(buf, size, "fw[%u]", low);
		break;
	case A64_REG_FW_BMAP:
		snprintf(buf, size, "fw_bmap[%u]", low);
		break;
	case A64_REG_SVE:
		snprintf(buf, size, "sve[0x%x]", low);
		break;
	default:
		snprintf(buf, size, "reg 0x%llx", (unsigned long long)id);
	}
}
