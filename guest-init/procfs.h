/* Reading small files from /proc: the command line and the uptime. */
#ifndef TORPOR_GUEST_INIT_PROCFS_H
#define TORPOR_GUEST_INIT_PROCFS_H

#include <stddef.h>
#include <stdint.h>

/*
 * Read the whole of path into buf (size bytes, NUL-terminated; *len gets the
 * length without the NUL). Returns 0, -E2BIG if the file has size bytes or
 * more, or the -errno of open/read.
 */
int procfs_read(const char *path, char *buf, size_t size, size_t *len);

/*
 * Milliseconds since boot from the first field of /proc/uptime ("12.34"),
 * or from CLOCK_BOOTTIME (the same clock) with a warning if that file cannot
 * be read. Returns 0 or -errno.
 */
int procfs_uptime_ms(uint64_t *ms);

#endif
