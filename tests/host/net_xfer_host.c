/*
 * Host side of the virtio-net tests and benchmark: the same program as the
 * guest's /bin/net_xfer (tests/guest/net_xfer.c), built as
 * build/aarch64/torpor-test-net_xfer to run on the (test) host.
 */
#include "tests/guest/net_xfer.c"
