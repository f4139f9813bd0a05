/* libFuzzer target for vmm/config.c: JSON config files and command-line flags. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: one control byte, then by its low two bits
 *   0:    the whole rest is a JSON config file (config_load_json());
 *   1, 3: the rest split on NUL bytes: the first piece is the file that any
 *         --config reads, the others are argv[1..] (config_parse_args());
 *   2:    the rest, up to a NUL, is a --disk value (config_parse_disk()).
 * Whatever parses and validates must survive config_to_json() and load back
 * as the same config; a disk must survive being written back as a --disk
 * value (",," for each comma).
 *
 * The file lives in a memfd. The build links with -Wl,--wrap=fopen: while
 * config.c runs, every fopen() of a non-empty path opens that memfd, so
 * "--config /dev/stdin" and friends cannot block or read the host's files.
 */
#define MAX_ARGS 64

FILE *__real_fopen(const char *path, const char *mode);
FILE *__wrap_fopen(const char *path, const char *mode);

static int file_fd = -1, back_fd = -1;
static char file_path[64], back_path[64];
static const char *redirect; /* set while config.c runs */

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_config: %s:%d: check failed: %s\n", __FILE__,        \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

FILE *__wrap_fopen(const char *path, const char *mode)
{
	if (redirect && path && *path)
		path = redirect;
	return __real_fopen(path, mode);
}

static int make_memfd(const char *name, char *path, size_t len)
{
	int fd = memfd_create(name, 0);

	if (fd < 0) {
		perror("fuzz_config: memfd_create");
		abort();
	}
	snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int null = open("/dev/null", O_WRONLY);

	/* --help and --version print to stdout; libFuzzer reports on stderr. */
	if (null >= 0) {
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	file_fd = make_memfd("fuzz_config.json", file_path, sizeof(file_path));
	back_fd = make_memfd("fuzz_config_back.json", back_path, sizeof(back_path));
	return 0;
}

static void set_file(int fd, const void *data, size_t len)
{
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(pwrite(fd, data, len, 0) == (ssize_t)len);
}

static void check_err(int rc, const char *err)
{
	CHECK(rc < 0 || rc == CONFIG_RUN || rc == CONFIG_HELP || rc == CONFIG_VERSION);
	if (rc < 0) {
		CHECK(rc >= -4095);
		CHECK(err[0] && memchr(err, '\0', 256));
	}
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool disk_eq(const struct disk_config *a, const struct disk_config *b)
{
	return str_eq(a->path, b->path) && str_eq(a->overlay, b->overlay) &&
	       str_eq(a->serial, b->serial) && a->read_only == b->read_only;
}

static void disk_free(struct disk_config *d)
{
	free(d->path);
	free(d->overlay);
	free(d->serial);
}

/* Append ",key=v" to the spec at *p, each comma in v doubled. */
static void spec_add(char **p, const char *key, const char *v)
{
	*p += sprintf(*p, ",%s=", key);
	for (; *v; v++) {
		if (*v == ',')
			*(*p)++ = ',';
		*(*p)++ = *v;
	}
	**p = '\0';
}

/* A disk written back as a --disk value must parse to the same disk. */
static void check_disk_spec(const struct disk_config *d)
{
	size_t len = 64 + 2 * (strlen(d->path) + (d->overlay ? strlen(d->overlay) : 0) +
			       (d->serial ? strlen(d->serial) : 0));
	char *spec = malloc(len), *p = spec;
	struct disk_config b;
	char err[256] = "";
	int rc;

	CHECK(spec);
	if (d->read_only)
		p += sprintf(p, ",ro");
	spec_add(&p, "path", d->path);
	if (d->overlay)
		spec_add(&p, "overlay", d->overlay);
	if (d->serial)
		spec_add(&p, "serial", d->serial);
	rc = config_parse_disk(spec + 1, &b, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "fuzz_config: disk written back as \"%s\" fails: %s\n", spec + 1,
			err);
	CHECK(rc == 0);
	CHECK(disk_eq(d, &b));
	disk_free(&b);
	free(spec);
}

static void fuzz_disk(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t n = nul ? (size_t)(nul - data) : size;
	char *spec = malloc(n + 1);
	struct disk_config d;
	char err[256] = "";
	int rc;

	CHECK(spec);
	memcpy(spec, data, n);
	spec[n] = '\0';
	rc = config_parse_disk(spec, &d, err, sizeof(err));
	check_err(rc, err);
	if (rc == 0) {
		CHECK(d.path);
		check_disk_spec(&d);
		disk_free(&d);
	}
	free(spec);
}

/* config_to_json() and back: the same settings (--dump-dtb has no JSON field). */
static void check_roundtrip(const struct vm_config *c)
{
	struct vm_config b;
	char err[256] = "";
	char *text;
	int rc;

	if (config_validate(c, err, sizeof(err)) < 0) {
		CHECK(err[0]);
		return;
	}
	text = config_to_json(c);
	CHECK(text);
	set_file(back_fd, text, strlen(text));
	config_init(&b);
	redirect = NULL;
	rc = config_load_json(&b, back_path, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "fuzz_config: config_to_json() gave %s\n  which loads as: %s\n",
			text, err);
	CHECK(rc == 0);
	CHECK(str_eq(c->kernel, b.kernel));
	CHECK(str_eq(c->initrd, b.initrd));
	CHECK(str_eq(c->cmdline ? c->cmdline : CONFIG_DEFAULT_CMDLINE, b.cmdline));
	CHECK(str_eq(c->control, b.control));
	CHECK(c->mem_size == b.mem_size);
	CHECK(c->vcpus == b.vcpus);
	CHECK(c->on_reboot == b.on_reboot);
	CHECK(c->console_input == b.console_input);
	CHECK(c->log_level == b.log_level);
	CHECK(str_eq(c->net.tap, b.net.tap));
	CHECK(c->net.has_mac == b.net.has_mac && c->net.has_host_ip == b.net.has_host_ip);
	CHECK(!c->net.has_mac || !memcmp(c->net.mac, b.net.mac, 6));
	CHECK(!c->net.has_host_ip || (!memcmp(c->net.host_ip, b.net.host_ip, 4) &&
				      c->net.host_prefix == b.net.host_prefix));
	CHECK(c->nr_disks == b.nr_disks);
	for (unsigned int i = 0; i < c->nr_disks; i++)
		CHECK(disk_eq(&c->disks[i], &b.disks[i]));
	CHECK(config_validate(&b, err, sizeof(err)) == 0);
	for (unsigned int i = 0; i < c->nr_disks; i++)
		check_disk_spec(&c->disks[i]);
	free(text);
	config_free(&b);
}

static void fuzz_json(const uint8_t *data, size_t size)
{
	struct vm_config c;
	char err[256] = "";
	int rc;

	set_file(file_fd, data, size);
	config_init(&c);
	rc = config_load_json(&c, file_path, err, sizeof(err));
	check_err(rc, err);
	if (rc == 0)
		check_roundtrip(&c);
	config_free(&c);
}

static void fuzz_args(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 1];
	const uint8_t *p = data, *end = data + size, *nul;
	struct vm_config c;
	char err[256] = "";
	int argc = 0, rc;

	/* The first piece: the file behind --config. */
	nul = memchr(p, '\0', size);
	set_file(file_fd, p, nul ? (size_t)(nul - p) : size);
	p = nul ? nul + 1 : end;

	/* Each argument in its own allocation, so ASan sees any over-read. */
	argv[argc++] = strdup("torpor-vmm");
	while (p < end && argc < MAX_ARGS) {
		size_t n;

		nul = memchr(p, '\0', (size_t)(end - p));
		n = nul ? (size_t)(nul - p) : (size_t)(end - p);
		argv[argc] = malloc(n + 1);
		CHECK(argv[argc]);
		memcpy(argv[argc], p, n);
		argv[argc++][n] = '\0';
		p += n + 1;
	}
	argv[argc] = NULL;

	config_init(&c);
	redirect = file_path;
	rc = config_parse_args(&c, argc, argv, err, sizeof(err));
	redirect = NULL;
	check_err(rc, err);
	if (rc == CONFIG_RUN)
		check_roundtrip(&c);
	config_free(&c);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	log_level = LOG_INFO;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_args(data + 1, size - 1);
	else if (data[0] & 2)
		fuzz_disk(data + 1, size - 1);
	else
		fuzz_json(data + 1, size - 1);
	return 0;
}
