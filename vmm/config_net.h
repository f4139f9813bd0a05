/* The net settings of the VM configuration (config_net.c), for config.c only. */
#ifndef TORPOR_CONFIG_NET_H
#define TORPOR_CONFIG_NET_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* "net" of a config file, an object or null, into n (replacing it). 0 or -errno with err. */
int config_net_from_json(struct net_config *n, json_t *v, const char *what, char *err,
			 size_t errlen);
/* n as the "net" field of config_to_json(): an object, or null when there is no device. */
json_t *config_net_to_json(const struct net_config *n);
/* The checks of config_validate(). 0 or -EINVAL with err. */
int config_net_validate(const struct net_config *n, char *err, size_t errlen);
/* Free n's strings; n is then "no device". */
void config_net_free(struct net_config *n);

#endif
