/* VM configuration: command-line flags and JSON files into struct vm_config. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_net.h"
#include "log.h"

#ifndef TORPOR_VERSION
#define TORPOR_VERSION "unknown"
#endif

#define KIB 1024ull
#define MIB (KIB << 10)
#define PAGE_4K 4096ull

/* Every setting, in the order --help lists them. */
enum opt {
	OPT_KERNEL,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_MEMORY,
	OPT_VCPUS,
	OPT_CONTROL,
	OPT_DISK,
	OPT_VSOCK,
	OPT_NET,
	OPT_CONFIG,
	OPT_ON_REBOOT,
	OPT_DUMP_DTB,
	OPT_LOG_LEVEL,
	OPT_NO_CONSOLE_INPUT,
	OPT_RESTORE,
	OPT_PAUSED,
	OPT_HELP,
	OPT_VERSION,
	NR_OPTS,
};

/* getopt_long values: above any character so they never clash with '?' or ':'. */
#define OPT_VAL_BASE 0x100

struct flag {
	const char *name;    /* long flag, without "--" */
	const char *metavar; /* NULL: the flag takes no value */
	const char *json;    /* field name in a config file, or NULL */
	const char *help;
};

static const struct flag flags[NR_OPTS] = {
	[OPT_KERNEL] = { "kernel", "PATH", "kernel", "arm64 kernel Image to boot (required)" },
	[OPT_INITRD] = { "initrd", "PATH", "initrd", "initramfs to load after the kernel" },
	[OPT_CMDLINE] = { "cmdline", "STR", "cmdline",
			  "kernel command line (default \"" CONFIG_DEFAULT_CMDLINE "\")" },
	[OPT_MEMORY] = { "memory", "SIZE", "memory",
			 "guest RAM: MiB, or a number with K, M, G or T (default 256M);\n"
			 "a multiple of 4K" },
	[OPT_VCPUS] = { "vcpus", "N", "vcpus", "number of vCPUs (default 1)" },
	[OPT_CONTROL] = { "control", "SOCK", "control",
			  "serve the control API (HTTP/JSON) on this Unix socket" },
	[OPT_DISK] = { "disk", "SPEC", "disks",
		       "add a virtio-blk disk (vda, vdb, ... in order); SPEC is\n"
		       "path=IMG[,ro][,overlay=FILE][,serial=S]: ro read-only,\n"
		       "overlay a copy-on-write file over IMG, serial its ID\n"
		       "(at most 20 bytes); \",,\" is a literal comma" },
	[OPT_VSOCK] = { "vsock", "SPEC", "vsock",
			"add a virtio-vsock device; SPEC is cid=N,uds=PATH: the\n"
			"guest CID (3 .. 4294967294) and the host-side Unix\n"
			"socket (guest connections to host port P go to PATH_P)" },
	[OPT_NET] = { "net", "SPEC", "net",
		      "add a virtio-net device on a host TAP; SPEC is\n"
		      "tap=NAME[,mac=MAC][,host_ip=ADDR/LEN]: the TAP (created,\n"
		      "or attached to if it exists), the guest's MAC (default\n"
		      "random), an IPv4 address for the TAP (e.g. 10.0.0.1/24);\n"
		      "the guest's own address comes from ip= in --cmdline" },
	[OPT_CONFIG] = { "config", "FILE.json", NULL,
			 "read settings from a JSON file; flags override it,\n"
			 "wherever they stand on the command line" },
	[OPT_ON_REBOOT] = { "on-reboot", "exit|restart", "on_reboot",
			    "on guest reset: exit (default) or boot again" },
	[OPT_DUMP_DTB] = { "dump-dtb", "FILE", NULL,
			   "write the guest's device tree blob to FILE and exit" },
	[OPT_LOG_LEVEL] = { "log-level", "LEVEL", "log_level",
			    "error, warn, info (default) or debug" },
	[OPT_NO_CONSOLE_INPUT] = { "no-console-input", NULL, "console_input",
				   "do not forward stdin to the guest console\n"
				   "(config file: \"console_input\": false)" },
	[OPT_RESTORE] = { "restore", "STATE", NULL,
			  "start from a snapshot's state file instead of booting;\n"
			  "only --vsock, --net, --disk (same count and order),\n"
			  "--control, --paused, --log-level and --no-console-input\n"
			  "may go with it (docs/config.md)" },
	[OPT_PAUSED] = { "paused", NULL, NULL,
			 "with --restore: stay paused until PATCH /vm running" },
	[OPT_HELP] = { "help", NULL, NULL, "print this help and exit (also -h)" },
	[OPT_VERSION] = { "version", NULL, NULL, "print the version and exit" },
};

static const char *const on_reboot_names[] = {
	[ON_REBOOT_EXIT] = "exit",
	[ON_REBOOT_RESTART] = "restart",
};

/* For config_to_json(); log_level_parse() reads them. */
static const char *const log_level_names[] = {
	[LOG_ERR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

static int __attribute__((format(printf, 3, 4)))
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

void config_init(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->mem_size = CONFIG_DEFAULT_MEM;
	c->vcpus = CONFIG_DEFAULT_VCPUS;
	c->on_reboot = ON_REBOOT_EXIT;
	c->console_input = true;
	c->log_level = LOG_INFO;
}

static void disk_free(struct disk_config *d)
{
	free(d->path);
	free(d->overlay);
	free(d->serial);
	memset(d, 0, sizeof(*d));
}

static void disks_clear(struct vm_config *c)
{
	for (unsigned int i = 0; i < c->nr_disks; i++)
		disk_free(&c->disks[i]);
	c->nr_disks = 0;
}

void config_free(struct vm_config *c)
{
	disks_clear(c);
	free(c->vsock.uds);
	memset(&c->vsock, 0, sizeof(c->vsock));
	config_net_free(&c->net);
	free(c->kernel);
	free(c->initrd);
	free(c->cmdline);
	free(c->control);
	free(c->dump_dtb);
	free(c->restore);
	c->kernel = c->initrd = c->cmdline = c->control = c->dump_dtb = c->restore = NULL;
}

int config_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mult = MIB;
	const char *p = s;

	if (!s || *p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned int d = (unsigned int)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	switch (*p) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = KIB;
		break;
	case 'm':
	case 'M':
		mult = MIB;
		break;
	case 'g':
	case 'G':
		mult = MIB << 10;
		break;
	case 't':
	case 'T':
		mult = MIB << 20;
		break;
	default:
		return -EINVAL;
	}
	if (*p)
		p++;
	if (*p && strcmp(p, "iB"))
		return -EINVAL;
	if (v > UINT64_MAX / mult)
		return -EINVAL;
	*out = v * mult;
	return 0;
}

/* A decimal unsigned int: digits only, no sign, no overflow. */
static int parse_uint(const char *s, unsigned int *out)
{
	unsigned long v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > UINT_MAX)
			return -EINVAL;
	}
	if (*s)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

static int name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return (int)i;
	return -EINVAL;
}

static int set_str(char **dst, const char *v, const char *what, char *err, size_t errlen)
{
	char *copy = NULL;

	if (v) {
		copy = strdup(v);
		if (!copy) {
			errf(err, errlen, "%s: out of memory", what);
			return -ENOMEM;
		}
	}
	free(*dst);
	*dst = copy;
	return 0;
}

/* The next item of a comma-separated list (",," is a literal comma), malloc'd; NULL: no memory. */
static char *next_item(const char **s)
{
	const char *p = *s;
	char *out = malloc(strlen(p) + 1);
	size_t n = 0;

	if (!out)
		return NULL;
	while (*p) {
		if (*p == ',' && p[1] == ',') {
			out[n++] = ',';
			p += 2;
		} else if (*p == ',') {
			p++;
			break;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	*s = p;
	return out;
}

/* Set *dst to a copy of v unless it is set already. */
static int disk_key(char **dst, const char *key, const char *v, char *err, size_t errlen)
{
	if (*dst)
		return errf(err, errlen, "--disk: %s given twice", key);
	*dst = strdup(v);
	if (!*dst) {
		errf(err, errlen, "--disk: out of memory");
		return -ENOMEM;
	}
	return 0;
}

int config_parse_disk(const char *spec, struct disk_config *d, char *err, size_t errlen)
{
	const char *p = spec;
	int rc = 0;

	memset(d, 0, sizeof(*d));
	while (!rc && *p) {
		char *item = next_item(&p), *eq;

		if (!item) {
			rc = -ENOMEM;
			break;
		}
		eq = strchr(item, '=');
		if (!strcmp(item, "ro"))
			d->read_only = true;
		else if (eq && !strncmp(item, "path=", 5))
			rc = disk_key(&d->path, "path", eq + 1, err, errlen);
		else if (eq && !strncmp(item, "overlay=", 8))
			rc = disk_key(&d->overlay, "overlay", eq + 1, err, errlen);
		else if (eq && !strncmp(item, "serial=", 7))
			rc = disk_key(&d->serial, "serial", eq + 1, err, errlen);
		else
			rc = errf(err, errlen,
				  "--disk: unknown option \"%.64s\" (expected path=IMG, ro, "
				  "overlay=FILE, serial=S)", item);
		free(item);
	}
	if (!rc && !d->path)
		rc = errf(err, errlen, "--disk: no path=IMG in \"%.64s\"", spec);
	if (rc < 0)
		disk_free(d);
	return rc;
}

/* A guest CID: decimal, 3 .. 0xfffffffe (0-2 are reserved, -1 is VMADDR_CID_ANY). */
static int parse_cid(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	if (*s || v < CONFIG_VSOCK_CID_MIN || v > CONFIG_VSOCK_CID_MAX)
		return -EINVAL;
	*out = v;
	return 0;
}

int config_parse_vsock(const char *spec, struct vsock_config *v, char *err, size_t errlen)
{
	const char *p = spec;
	int rc = 0;

	memset(v, 0, sizeof(*v));
	while (!rc && *p) {
		char *item = next_item(&p);

		if (!item) {
			rc = -ENOMEM;
			break;
		}
		if (!strncmp(item, "cid=", 4)) {
			if (v->cid)
				rc = errf(err, errlen, "--vsock: cid given twice");
			else if (parse_cid(item + 4, &v->cid) < 0)
				rc = errf(err, errlen, "--vsock: cid \"%.32s\" is not a number from "
					  "3 to 4294967294", item + 4);
		} else if (!strncmp(item, "uds=", 4)) {
			if (v->uds)
				rc = errf(err, errlen, "--vsock: uds given twice");
			else if (!(v->uds = strdup(item + 4)))
				rc = -ENOMEM;
		} else {
			rc = errf(err, errlen, "--vsock: unknown option \"%.64s\" (expected cid=N, "
				  "uds=PATH)", item);
		}
		free(item);
	}
	if (!rc && (!v->cid || !v->uds))
		rc = errf(err, errlen, "--vsock: give both cid=N and uds=PATH");
	if (rc < 0) {
		free(v->uds);
		memset(v, 0, sizeof(*v));
	}
	return rc;
}

/* A JSON string, or null for an optional one, into *dst. */
static int json_disk_str(char **dst, json_t *v, bool optional, const char *what, char *err,
			 size_t errlen)
{
	if (optional && json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return errf(err, errlen, "%s: expected a string%s", what, optional ? " or null" : "");
	free(*dst);
	*dst = strdup(json_string_value(v));
	if (!*dst) {
		errf(err, errlen, "%s: out of memory", what);
		return -ENOMEM;
	}
	return 0;
}

static int json_disk(struct disk_config *d, json_t *o, const char *what, char *err, size_t errlen)
{
	const char *key;
	char sub[360];
	json_t *v;
	int rc = 0;

	if (!json_is_object(o))
		return errf(err, errlen, "%s: expected an object like {\"path\": \"disk.img\"}",
			    what);
	json_object_foreach(o, key, v) {
		snprintf(sub, sizeof(sub), "%s.%.32s", what, key);
		if (!strcmp(key, "path"))
			rc = json_disk_str(&d->path, v, false, sub, err, errlen);
		else if (!strcmp(key, "overlay"))
			rc = json_disk_str(&d->overlay, v, true, sub, err, errlen);
		else if (!strcmp(key, "serial"))
			rc = json_disk_str(&d->serial, v, true, sub, err, errlen);
		else if (!strcmp(key, "read_only") && json_is_boolean(v))
			d->read_only = json_is_true(v);
		else if (!strcmp(key, "read_only"))
			rc = errf(err, errlen, "%s: expected true or false", sub);
		else
			rc = errf(err, errlen, "%s: unknown field \"%.64s\" (known: path, read_only, "
				  "overlay, serial)", what, key);
		if (rc < 0)
			return rc;
	}
	if (!d->path)
		return errf(err, errlen, "%s: no \"path\"", what);
	return 0;
}

static int json_disks(struct vm_config *c, json_t *v, const char *what, char *err, size_t errlen)
{
	size_t i;
	json_t *o;
	int rc;

	if (!json_is_array(v))
		return errf(err, errlen, "%s: expected an array of disks", what);
	if (json_array_size(v) > CONFIG_MAX_DISKS)
		return errf(err, errlen, "%s: %zu disks, at most %d", what, json_array_size(v),
			    CONFIG_MAX_DISKS);
	disks_clear(c);
	json_array_foreach(v, i, o) {
		char sub[300];

		snprintf(sub, sizeof(sub), "%s[%zu]", what, i);
		rc = json_disk(&c->disks[c->nr_disks++], o, sub, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* "vsock": {"cid": N, "uds": "PATH"} or null for none. */
static int json_vsock(struct vm_config *c, json_t *o, const char *what, char *err, size_t errlen)
{
	struct vsock_config v = { 0 };
	const char *key;
	json_t *x;
	int rc = 0;

	if (json_is_null(o)) {
		free(c->vsock.uds);
		memset(&c->vsock, 0, sizeof(c->vsock));
		return 0;
	}
	if (!json_is_object(o))
		return errf(err, errlen, "%s: expected an object like {\"cid\": 3, \"uds\": "
			    "\"/run/vm.vsock\"} or null", what);
	json_object_foreach(o, key, x) {
		if (!strcmp(key, "cid")) {
			json_int_t n = json_is_integer(x) ? json_integer_value(x) : -1;

			if (n < CONFIG_VSOCK_CID_MIN || (uint64_t)n > CONFIG_VSOCK_CID_MAX)
				rc = errf(err, errlen, "%s.cid: expected an integer from 3 to "
					  "4294967294", what);
			else
				v.cid = (uint64_t)n;
		} else if (!strcmp(key, "uds")) {
			rc = json_disk_str(&v.uds, x, false, "vsock.uds", err, errlen);
		} else {
			rc = errf(err, errlen, "%s: unknown field \"%.64s\" (known: cid, uds)", what,
				  key);
		}
		if (rc < 0)
			break;
	}
	if (!rc && (!v.cid || !v.uds))
		rc = errf(err, errlen, "%s: give both \"cid\" and \"uds\"", what);
	if (rc < 0) {
		free(v.uds);
		return rc;
	}
	free(c->vsock.uds);
	c->vsock = v;
	return 0;
}

/*
 * Apply one setting given as text (a flag's value or a JSON string). what
 * names it in errors ("--memory" or "vm.json: memory").
 */
static int apply_text(struct vm_config *c, enum opt id, const char *v, const char *what, char *err,
		      size_t errlen)
{
	int i;

	switch (id) {
	case OPT_KERNEL:
		return set_str(&c->kernel, v, what, err, errlen);
	case OPT_INITRD:
		return set_str(&c->initrd, v, what, err, errlen);
	case OPT_CMDLINE:
		return set_str(&c->cmdline, v, what, err, errlen);
	case OPT_CONTROL:
		return set_str(&c->control, v, what, err, errlen);
	case OPT_DUMP_DTB:
		return set_str(&c->dump_dtb, v, what, err, errlen);
	case OPT_RESTORE:
		return set_str(&c->restore, v, what, err, errlen);
	case OPT_PAUSED:
		c->start_paused = true;
		return 0;
	case OPT_MEMORY:
		if (config_parse_size(v, &c->mem_size) < 0)
			return errf(err, errlen,
				    "%s: \"%s\" is not a size: give MiB, or a number with K, M, G "
				    "or T (e.g. 512M, 2G)", what, v);
		return 0;
	case OPT_VCPUS:
		if (parse_uint(v, &c->vcpus) < 0)
			return errf(err, errlen, "%s: \"%s\" is not a number of vCPUs", what, v);
		return 0;
	case OPT_ON_REBOOT:
		i = name_index(on_reboot_names, 2, v);
		if (i < 0)
			return errf(err, errlen, "%s: \"%s\" is not exit or restart", what, v);
		c->on_reboot = (enum on_reboot)i;
		return 0;
	case OPT_LOG_LEVEL:
		i = log_level_parse(v);
		if (i < 0)
			return errf(err, errlen, "%s: \"%s\" is not error, warn, info or debug",
				    what, v);
		c->log_level = i;
		return 0;
	case OPT_NO_CONSOLE_INPUT:
		c->console_input = false;
		return 0;
	case OPT_NET: { /* the flag replaces the file's net */
		struct net_config n;

		if ((i = config_parse_net(v, &n, err, errlen)) < 0)
			return i;
		config_net_free(&c->net);
		c->net = n;
		return 0;
	}
	default:
		return errf(err, errlen, "%s: not a setting", what);
	}
}

/* Apply one JSON field; types are strict, null clears an optional path. */
static int apply_json(struct vm_config *c, enum opt id, json_t *v, const char *what, char *err,
		      size_t errlen)
{
	json_int_t n;

	switch (id) {
	case OPT_INITRD:
	case OPT_CMDLINE:
	case OPT_CONTROL:
		if (json_is_null(v))
			return apply_text(c, id, NULL, what, err, errlen);
		/* fall through */
	case OPT_KERNEL:
	case OPT_ON_REBOOT:
	case OPT_LOG_LEVEL:
		if (!json_is_string(v))
			return errf(err, errlen, "%s: expected a string", what);
		return apply_text(c, id, json_string_value(v), what, err, errlen);
	case OPT_MEMORY:
		if (json_is_string(v))
			return apply_text(c, id, json_string_value(v), what, err, errlen);
		if (!json_is_integer(v))
			return errf(err, errlen,
				    "%s: expected a size string like \"512M\" or an integer of MiB",
				    what);
		n = json_integer_value(v);
		if (n < 0 || (uint64_t)n > UINT64_MAX / MIB)
			return errf(err, errlen, "%s: %lld MiB is out of range", what, (long long)n);
		c->mem_size = (uint64_t)n * MIB;
		return 0;
	case OPT_VCPUS:
		if (!json_is_integer(v))
			return errf(err, errlen, "%s: expected an integer", what);
		n = json_integer_value(v);
		if (n < 0 || n > UINT_MAX)
			return errf(err, errlen, "%s: %lld is out of range", what, (long long)n);
		c->vcpus = (unsigned int)n;
		return 0;
	case OPT_NO_CONSOLE_INPUT:
		if (!json_is_boolean(v))
			return errf(err, errlen, "%s: expected true or false", what);
		c->console_input = json_is_true(v);
		return 0;
	case OPT_DISK:
		return json_disks(c, v, what, err, errlen);
	case OPT_VSOCK:
		return json_vsock(c, v, what, err, errlen);
	case OPT_NET:
		return config_net_from_json(&c->net, v, what, err, errlen);
	default:
		return errf(err, errlen, "%s: not a setting", what);
	}
}

static int json_field(const char *key)
{
	for (int i = 0; i < NR_OPTS; i++)
		if (flags[i].json && !strcmp(flags[i].json, key))
			return i;
	return -1;
}

static int load_json_root(struct vm_config *c, json_t *root, const char *name, char *err,
			  size_t errlen)
{
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(root))
		return errf(err, errlen, "%s: expected a JSON object at the top level", name);
	json_object_foreach(root, key, v) {
		char what[256];
		int id = json_field(key);

		if (id < 0)
			return errf(err, errlen,
				    "%s: unknown field \"%.64s\" (known: kernel, initrd, cmdline, "
				    "memory, vcpus, control, disks, vsock, net, on_reboot, "
				    "console_input, log_level)",
				    name, key);
		snprintf(what, sizeof(what), "%s: %s", name, key);
		rc = apply_json(c, (enum opt)id, v, what, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int config_load_json_text(struct vm_config *c, const char *text, size_t len, const char *name,
			  char *err, size_t errlen)
{
	json_error_t je;
	json_t *root;
	int rc;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return errf(err, errlen, "%s:%d:%d: %s", name, je.line, je.column, je.text);
	rc = load_json_root(c, root, name, err, errlen);
	json_decref(root);
	return rc;
}

int config_load_json(struct vm_config *c, const char *path, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root;
	FILE *f;
	int rc = 0;

	f = fopen(path, "r");
	if (!f) {
		rc = -errno;
		errf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &je);
	fclose(f);
	if (!root)
		return errf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
	rc = load_json_root(c, root, path, err, errlen);
	json_decref(root);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: torpor-vmm --kernel PATH [options]\n"
		   "       torpor-vmm --config FILE.json [options]\n"
		   "       torpor-vmm --restore STATE [--paused] [overrides]\n"
		   "       torpor-vmm --merge-mem OUT TOP | --mem-info FILE\n"
		   "\n"
		   "Boot an arm64 Linux guest in a KVM microVM and run it until it stops.\n"
		   "\n"
		   "Options:\n");
	for (int i = 0; i < NR_OPTS; i++) {
		const struct flag *fl = &flags[i];
		const char *h = fl->help;
		int n = fprintf(f, "  --%s%s%s", fl->name, fl->metavar ? " " : "",
				fl->metavar ? fl->metavar : "");

		/* Help text in a column; continuation lines after each '\n'. */
		for (;;) {
			const char *nl = strchr(h, '\n');
			int len = nl ? (int)(nl - h) : (int)strlen(h);

			fprintf(f, "%*s%.*s\n", n < 30 ? 30 - n : 1, "", len, h);
			if (!nl)
				break;
			h = nl + 1;
			n = 0;
		}
	}
	fprintf(f, "\n"
		   "A config file holds the same settings as JSON fields: kernel, initrd,\n"
		   "cmdline, memory (\"512M\" or an integer of MiB), vcpus, control, on_reboot,\n"
		   "console_input (true/false), log_level, and disks: an array of objects\n"
		   "{\"path\", \"read_only\", \"overlay\", \"serial\"} (--disk flags replace it),\n"
		   "vsock: {\"cid\", \"uds\"} or null, and net: {\"tap\", \"mac\", \"host_ip\"}\n"
		   "or null.\n"
		   "\n"
		   "Exit status: 0 the guest powered off, was stopped (control socket, SIGTERM,\n"
		   "SIGINT) or reset with --on-reboot exit; 1 a bad configuration or a host\n"
		   "failure; 2 the guest crashed or KVM could not run it.\n"
		   "See docs/config.md.\n");
}

static void build_longopts(struct option *o)
{
	for (int i = 0; i < NR_OPTS; i++)
		o[i] = (struct option){
			.name = flags[i].name,
			.has_arg = flags[i].metavar ? required_argument : no_argument,
			.val = OPT_VAL_BASE + i,
		};
	o[NR_OPTS] = (struct option){ 0 };
}

int config_parse_args(struct vm_config *c, int argc, char **argv, char *err, size_t errlen)
{
	struct option longopts[NR_OPTS + 1];
	const char *vals[NR_OPTS] = { 0 };
	const char *disks[CONFIG_MAX_DISKS];
	unsigned int nr_disks = 0;
	struct vsock_config vsock, vsock_spec = { 0 };
	bool have_vsock = false;
	int opt, rc;

	build_longopts(longopts);
	optind = 0; /* full reset: the caller may parse more than once */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			opt = OPT_VAL_BASE + OPT_HELP;
			break;
		case ':':
			return errf(err, errlen, "option %s needs a value", argv[optind - 1]);
		case '?':
			if (optopt >= OPT_VAL_BASE)
				return errf(err, errlen, "option --%s takes no value",
					    flags[optopt - OPT_VAL_BASE].name);
			if (optopt)
				return errf(err, errlen, "unknown option -%c", optopt);
			return errf(err, errlen, "unknown or ambiguous option %s", argv[optind - 1]);
		}
		opt -= OPT_VAL_BASE;
		if (opt == OPT_HELP) {
			usage(stdout);
			return CONFIG_HELP;
		}
		if (opt == OPT_VERSION) {
			printf("torpor-vmm %s\n", TORPOR_VERSION);
			return CONFIG_VERSION;
		}
		if (opt == OPT_DISK) { /* repeatable: every one counts */
			if (nr_disks == CONFIG_MAX_DISKS)
				return errf(err, errlen, "--disk: at most %d disks", CONFIG_MAX_DISKS);
			disks[nr_disks++] = optarg;
			continue;
		}
		if (opt == OPT_VSOCK) {
			rc = config_parse_vsock(optarg, &vsock, err, errlen);
			if (rc < 0)
				return rc;
			free(vsock_spec.uds);
			vsock_spec = vsock;
			have_vsock = true;
			continue;
		}
		vals[opt] = optarg ? optarg : ""; /* the last of repeated flags wins */
	}
	if (optind < argc)
		return errf(err, errlen, "unexpected argument \"%s\": every setting is a --flag",
			    argv[optind]);

	if (vals[OPT_RESTORE]) { /* everything else comes from the snapshot */
		static const enum opt fixed[] = { OPT_KERNEL, OPT_INITRD, OPT_CMDLINE, OPT_MEMORY,
						  OPT_VCPUS, OPT_CONFIG, OPT_ON_REBOOT,
						  OPT_DUMP_DTB };

		for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
			if (vals[fixed[i]]) {
				free(vsock_spec.uds);
				return errf(err, errlen, "--%s cannot go with --restore: the "
					    "snapshot fixes it", flags[fixed[i]].name);
			}
	} else if (vals[OPT_PAUSED]) {
		free(vsock_spec.uds);
		return errf(err, errlen, "--paused goes only with --restore");
	}
	if (vals[OPT_CONFIG]) {
		rc = config_load_json(c, vals[OPT_CONFIG], err, errlen);
		if (rc < 0) {
			free(vsock_spec.uds);
			return rc;
		}
	}
	if (have_vsock) { /* the flag replaces the file's vsock */
		free(c->vsock.uds);
		c->vsock = vsock_spec;
	}
	for (int i = 0; i < NR_OPTS; i++) {
		char what[64];

		if (!vals[i] || i == OPT_CONFIG)
			continue;
		snprintf(what, sizeof(what), "--%s", flags[i].name);
		rc = apply_text(c, (enum opt)i, vals[i], what, err, errlen);
		if (rc < 0)
			return rc;
	}
	if (nr_disks) /* the flags replace the file's disks */
		disks_clear(c);
	for (unsigned int i = 0; i < nr_disks; i++) {
		rc = config_parse_disk(disks[i], &c->disks[c->nr_disks], err, errlen);
		if (rc < 0)
			return rc;
		c->nr_disks++;
	}
	log_level = c->log_level;
	return CONFIG_RUN;
}

/* An optional path is unset (NULL) or a non-empty UTF-8 string. */
static int check_path(const char *v, const char *name, char *err, size_t errlen)
{
	json_t *s;

	if (!v)
		return 0;
	if (!*v)
		return errf(err, errlen, "%s: empty path", name);
	s = json_string(v); /* jansson's UTF-8 check: the API must be able to report it */
	if (!s)
		return errf(err, errlen, "%s: path is not valid UTF-8", name);
	json_decref(s);
	return 0;
}

static int validate_disks(const struct vm_config *c, char *err, size_t errlen)
{
	if (c->nr_disks > CONFIG_MAX_DISKS)
		return errf(err, errlen, "disks: at most %d", CONFIG_MAX_DISKS);
	for (unsigned int i = 0; i < c->nr_disks; i++) {
		const struct disk_config *d = &c->disks[i];
		char what[48];
		int rc;

		snprintf(what, sizeof(what), "disk %u: path", i);
		if (!d->path)
			return errf(err, errlen, "disk %u: no path", i);
		if ((rc = check_path(d->path, what, err, errlen)) < 0)
			return rc;
		snprintf(what, sizeof(what), "disk %u: overlay", i);
		if ((rc = check_path(d->overlay, what, err, errlen)) < 0)
			return rc;
		if (d->overlay && !strcmp(d->overlay, d->path))
			return errf(err, errlen, "disk %u: the overlay cannot be the image itself", i);
		if (d->serial) {
			json_t *s = json_string(d->serial);

			if (!s)
				return errf(err, errlen, "disk %u: serial is not valid UTF-8", i);
			json_decref(s);
			if (strlen(d->serial) > CONFIG_DISK_SERIAL_MAX)
				return errf(err, errlen, "disk %u: serial \"%.32s\" is %zu bytes, at "
					    "most %d", i, d->serial, strlen(d->serial),
					    CONFIG_DISK_SERIAL_MAX);
		}
	}
	return 0;
}

static int validate_vsock(const struct vsock_config *v, char *err, size_t errlen)
{
	int rc;

	if (!v->cid && !v->uds)
		return 0;
	if (v->cid < CONFIG_VSOCK_CID_MIN || v->cid > CONFIG_VSOCK_CID_MAX)
		return errf(err, errlen, "vsock: cid %llu is not from 3 to 4294967294",
			    (unsigned long long)v->cid);
	if (!v->uds)
		return errf(err, errlen, "vsock: no uds path");
	if ((rc = check_path(v->uds, "vsock: uds", err, errlen)) < 0)
		return rc;
	if (strlen(v->uds) > CONFIG_VSOCK_UDS_MAX)
		return errf(err, errlen, "vsock: uds path is %zu bytes, at most %d (a Unix "
			    "socket path, with room for _<port>)", strlen(v->uds),
			    CONFIG_VSOCK_UDS_MAX);
	return 0;
}

int config_validate(const struct vm_config *c, char *err, size_t errlen)
{
	int rc;

	if (!c->kernel)
		return errf(err, errlen, "no kernel: give --kernel PATH or \"kernel\" in the "
					 "config file");
	if ((rc = check_path(c->kernel, "kernel", err, errlen)) < 0 ||
	    (rc = check_path(c->initrd, "initrd", err, errlen)) < 0 ||
	    (rc = check_path(c->control, "control", err, errlen)) < 0 ||
	    (rc = check_path(c->dump_dtb, "dump-dtb", err, errlen)) < 0 ||
	    (rc = check_path(c->restore, "restore", err, errlen)) < 0)
		return rc;
	if (c->cmdline) {
		json_t *s = json_string(c->cmdline);

		if (!s)
			return errf(err, errlen, "cmdline: not valid UTF-8");
		json_decref(s);
		if (strlen(c->cmdline) >= CONFIG_MAX_CMDLINE)
			return errf(err, errlen, "cmdline: %zu bytes, the kernel takes at most %d",
				    strlen(c->cmdline), CONFIG_MAX_CMDLINE - 1);
	}
	if (c->mem_size == 0)
		return errf(err, errlen, "memory: must be more than 0");
	if (c->mem_size % PAGE_4K)
		return errf(err, errlen, "memory: %llu bytes is not a multiple of 4 KiB",
			    (unsigned long long)c->mem_size);
	if (c->vcpus < 1)
		return errf(err, errlen, "vcpus: must be at least 1");
	if ((unsigned int)c->on_reboot > ON_REBOOT_RESTART)
		return errf(err, errlen, "on_reboot: invalid value");
	if (c->log_level < LOG_ERR || c->log_level > LOG_DEBUG)
		return errf(err, errlen, "log_level: invalid value");
	if ((rc = validate_vsock(&c->vsock, err, errlen)) < 0)
		return rc;
	if ((rc = config_net_validate(&c->net, err, errlen)) < 0)
		return rc;
	return validate_disks(c, err, errlen);
}

/* Memory in the largest unit that holds it exactly: "512M", "2G", "4100K". */
static void format_size(uint64_t v, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (u < 3 && v && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%lluK", (unsigned long long)v / 1024); /* not 1K-aligned */
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)v, units[u]);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

char *config_to_json(const struct vm_config *c)
{
	char mem[32];
	char *text;
	json_t *o, *disks, *vsock;

	format_size(c->mem_size, mem, sizeof(mem));
	disks = json_array();
	for (unsigned int i = 0; disks && i < c->nr_disks; i++) {
		const struct disk_config *d = &c->disks[i];

		if (json_array_append_new(disks, json_pack("{s:o?, s:b, s:o?, s:o?}",
							   "path", str_or_null(d->path),
							   "read_only", d->read_only,
							   "overlay", str_or_null(d->overlay),
							   "serial", str_or_null(d->serial))) < 0) {
			json_decref(disks);
			return NULL;
		}
	}
	if (!disks)
		return NULL;
	vsock = c->vsock.uds ? json_pack("{s:I, s:s}", "cid", (json_int_t)c->vsock.cid, "uds",
					 c->vsock.uds)
			     : json_null();
	o = json_pack("{s:o?, s:o?, s:o?, s:s, s:I, s:o?, s:o, s:o?, s:o, s:s, s:b, s:s}",
		      "kernel", str_or_null(c->kernel),
		      "initrd", str_or_null(c->initrd),
		      "cmdline", json_string(c->cmdline ? c->cmdline : CONFIG_DEFAULT_CMDLINE),
		      "memory", mem,
		      "vcpus", (json_int_t)c->vcpus,
		      "control", str_or_null(c->control),
		      "disks", disks,
		      "vsock", vsock,
		      "net", config_net_to_json(&c->net),
		      "on_reboot", on_reboot_names[c->on_reboot == ON_REBOOT_RESTART],
		      "console_input", c->console_input,
		      "log_level", (c->log_level >= LOG_ERR && c->log_level <= LOG_DEBUG)
					   ? log_level_names[c->log_level] : "info");
	if (!o)
		return NULL;
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}
