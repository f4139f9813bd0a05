/*
 * torpor-bench-boot: boot time (VMM start to guest-init's ready line) over N
 * boots, and the VMM's memory overhead (RSS outside guest RAM, from smaps).
 * Runs where KVM is: inside the test host or natively on arm64.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_MARK "torpor-init: ready"
#define MAX_RUNS   100

struct opts {
	const char *vmm, *kernel, *initrd, *where;
	unsigned int runs;
	unsigned long mem_mib;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static pid_t spawn_vmm(const struct opts *o, int *out_fd)
{
	char mem[32];
	int p[2];
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	snprintf(mem, sizeof(mem), "%luM", o->mem_mib);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(p[1], STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(p[0]);
		close(p[1]);
		execl(o->vmm, o->vmm, "--kernel", o->kernel, "--initrd", o->initrd, "--memory", mem,
		      "--no-console-input", "--cmdline",
		      "console=ttyS0 quiet panic=-1 torpor.run=\"sleep 1000\"", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

/* Read the console until the ready line; returns 0 when seen. */
static int wait_ready(int fd)
{
	char buf[8192];
	size_t len = 0;

	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, READY_MARK))
			return 0;
		if (len > sizeof(buf) / 2) { /* keep the tail, where a split mark may be */
			memmove(buf, buf + len - 64, 64);
			len = 64;
		}
	}
}

/* RSS (KiB) of every mapping of pid but the guest RAM one (the anonymous mapping of mem size). */
static long rss_outside_ram(pid_t pid, unsigned long mem_mib, long *ram_rss)
{
	char path[64], line[512];
	unsigned long lo, hi;
	long total = 0, kib;
	int in_ram = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	*ram_rss = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in_ram = (hi - lo) == (mem_mib << 20);
		else if (sscanf(line, "Rss: %ld kB", &kib) == 1) {
			if (in_ram)
				*ram_rss += kib;
			else
				total += kib;
		}
	}
	fclose(f);
	return total;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: torpor-bench-boot --vmm PATH --kernel IMAGE --initrd ROOTFS\n"
		   "                         [--runs N] [--memory MIB] [--where LABEL]\n");
}

static int parse(struct opts *o, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!v)
			return -1;
		if (!strcmp(argv[i], "--vmm"))
			o->vmm = v;
		else if (!strcmp(argv[i], "--kernel"))
			o->kernel = v;
		else if (!strcmp(argv[i], "--initrd"))
			o->initrd = v;
		else if (!strcmp(argv[i], "--where"))
			o->where = v;
		else if (!strcmp(argv[i], "--runs"))
			o->runs = (unsigned int)strtoul(v, NULL, 10);
		else if (!strcmp(argv[i], "--memory"))
			o->mem_mib = strtoul(v, NULL, 10);
		else
			return -1;
		i++;
	}
	if (!o->vmm || !o->kernel || !o->initrd || !o->runs || o->runs > MAX_RUNS || !o->mem_mib)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .runs = 10, .mem_mib = 256, .where = "unlabelled host" };
	double ms[MAX_RUNS];
	long overhead = -1, ram_rss = 0;

	if (parse(&o, argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	for (unsigned int i = 0; i < o.runs; i++) {
		int fd, status;
		double t0 = now_ms();
		pid_t pid = spawn_vmm(&o, &fd);

		if (pid < 0 || wait_ready(fd) < 0) {
			fprintf(stderr, "bench: boot %u never reached the ready line\n", i + 1);
			return 1;
		}
		ms[i] = now_ms() - t0;
		if (i == 0)
			overhead = rss_outside_ram(pid, o.mem_mib, &ram_rss);
		kill(pid, SIGTERM);
		waitpid(pid, &status, 0);
		close(fd);
	}
	qsort(ms, o.runs, sizeof(ms[0]), cmp_double);
	printf("boot time (VMM start to guest-init ready), %u boots, %s:\n", o.runs, o.where);
	printf("  median %.1f ms  min %.1f ms  max %.1f ms\n", ms[o.runs / 2], ms[0],
	       ms[o.runs - 1]);
	printf("VMM memory overhead (RSS outside guest RAM, %lu MiB guest), %s:\n", o.mem_mib,
	       o.where);
	printf("  %ld KiB (guest RAM resident: %ld KiB)\n", overhead, ram_rss);
	return 0;
}
