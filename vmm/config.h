/* VM configuration: one struct filled from flags and/or a JSON file. */
#ifndef TORPOR_CONFIG_H
#define TORPOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum on_reboot {
	ON_REBOOT_EXIT,    /* guest reset ends the VMM (status 0) */
	ON_REBOOT_RESTART, /* guest reset boots the VM again */
};

#define CONFIG_MAX_DISKS      16
#define CONFIG_DISK_SERIAL_MAX 20 /* virtio-blk GET_ID: 20 bytes */

/* One virtio-blk disk (docs/config.md, docs/blk.md). */
struct disk_config {
	char *path;     /* raw image; with an overlay, the read-only base */
	char *overlay;  /* per-VM copy-on-write overlay file, or NULL */
	char *serial;   /* GET_ID serial, at most 20 bytes, or NULL */
	bool read_only; /* the guest may not write */
};

#define CONFIG_VSOCK_UDS_MAX 96 /* sun_path, less room for "_<port>" */
#define CONFIG_VSOCK_CID_MIN 3
#define CONFIG_VSOCK_CID_MAX 0xfffffffeull

/* The virtio-vsock device (docs/vsock.md); cid 0 means none. */
struct vsock_config {
	uint64_t cid; /* guest CID, 3 .. 0xfffffffe */
	char *uds;    /* host-side Unix socket path */
};

#define CONFIG_NET_IFNAME_MAX 15 /* IFNAMSIZ less the NUL */

/* The virtio-net device on a host TAP (docs/net.md); tap NULL means none. */
struct net_config {
	char *tap;                /* TAP interface name: created, or attached to if it exists */
	bool has_mac;             /* else a random locally administered MAC */
	uint8_t mac[6];           /* the guest's MAC: unicast, not all zeros */
	bool has_host_ip;         /* else the TAP's addresses are left alone */
	uint8_t host_ip[4];       /* IPv4 address put on the TAP, with host_prefix */
	unsigned int host_prefix; /* 1 .. 32 */
};

struct vm_config {
	char *kernel;        /* arm64 Image path (required) */
	char *initrd;        /* initramfs path, or NULL */
	char *cmdline;       /* kernel command line, or NULL for the default */
	uint64_t mem_size;   /* guest RAM in bytes */
	unsigned int vcpus;  /* number of vCPUs */
	char *control;       /* control socket path, or NULL for none */
	char *dump_dtb;      /* write the device tree here and exit, or NULL */
	enum on_reboot on_reboot;
	bool console_input;  /* forward stdin to the UART (default true) */
	int log_level;       /* enum log_level (log.h); default LOG_INFO */
	struct disk_config disks[CONFIG_MAX_DISKS]; /* /dev/vda, /dev/vdb, ... in order */
	unsigned int nr_disks;
	struct vsock_config vsock;
	struct net_config net;
	char *restore;       /* --restore: a snapshot's state file, or NULL for a cold boot */
	bool start_paused;   /* --paused: the vCPUs wait for PATCH /vm {"state":"running"} */
};

#define CONFIG_DEFAULT_MEM   (256ull << 20)
#define CONFIG_DEFAULT_VCPUS 1
#define CONFIG_DEFAULT_CMDLINE "console=ttyS0 panic=-1"
#define CONFIG_MAX_CMDLINE 2048 /* arm64 COMMAND_LINE_SIZE, with the NUL */

/* What config_parse_args() asks the caller to do. */
enum config_action {
	CONFIG_RUN,     /* config is complete: run the VM */
	CONFIG_HELP,    /* --help: usage was printed to stdout */
	CONFIG_VERSION, /* --version: version was printed to stdout */
};

/* Fill the defaults. */
void config_init(struct vm_config *c);

/*
 * Parse argv (flags; --config FILE loads a JSON file whose fields flags then
 * override, whatever their order). Returns a config_action >= 0, or -errno
 * with one line of explanation in err. On CONFIG_RUN it also sets the global
 * log_level (log.h) from c->log_level.
 */
int config_parse_args(struct vm_config *c, int argc, char **argv, char *err, size_t errlen);

/* Load the JSON config at path into c. Returns 0 or -errno with err set. */
int config_load_json(struct vm_config *c, const char *path, char *err, size_t errlen);

/*
 * Load a config from JSON text (a file's contents or a snapshot's config
 * section) into c; name prefixes errors. Returns 0 or -errno with err set.
 */
int config_load_json_text(struct vm_config *c, const char *text, size_t len, const char *name,
			  char *err, size_t errlen);

/* Check values that need no host knowledge. Returns 0 or -EINVAL with err. */
int config_validate(const struct vm_config *c, char *err, size_t errlen);

/* Parse a size: "512" (MiB), "512M", "2G", "4096K". Returns 0 or -EINVAL. */
int config_parse_size(const char *s, uint64_t *out);

/*
 * Parse a --disk value, "path=IMG[,ro][,overlay=FILE][,serial=S]" (",," is a
 * literal comma), into d (freed with config_free's rules: its strings are
 * owned). Returns 0 or -EINVAL with err set.
 */
int config_parse_disk(const char *spec, struct disk_config *d, char *err, size_t errlen);

/*
 * Parse a --vsock value, "cid=N,uds=PATH" (",," is a literal comma), into v
 * (its string owned). Returns 0 or -EINVAL with err set.
 */
int config_parse_vsock(const char *spec, struct vsock_config *v, char *err, size_t errlen);

/*
 * Parse a --net value, "tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,host_ip=A.B.C.D/LEN]",
 * into n (its string owned). Returns 0 or -EINVAL with err set.
 */
int config_parse_net(const char *spec, struct net_config *n, char *err, size_t errlen);

/* "02:00:0a:00:00:02" (hex, ':' or '-' between octets) into mac. 0 or -EINVAL. */
int config_parse_mac(const char *s, uint8_t mac[6]);
/* mac as "02:00:0a:00:00:02" into buf (at least 18 bytes). */
void config_format_mac(const uint8_t mac[6], char *buf, size_t len);

/* The config as a JSON object text (caller frees). Same field names as the file. */
char *config_to_json(const struct vm_config *c);

void config_free(struct vm_config *c);

#endif
