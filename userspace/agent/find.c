// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/find.c - a service of the agent, and of its config, by key. */
#include <string.h>
#include "agent.h"

struct agent_service *agent_find(struct agent *a, const struct zdd_service_key *key)
{
	size_t i;

	for (i = 0; i < a->n_svcs; i++)
		if (!memcmp(&a->svcs[i].key, key, sizeof(*key)))
			return &a->svcs[i];
	return NULL;
}

const struct zdd_conf_service *agent_conf_service(const struct agent *a,
						  const struct zdd_service_key *key)
{
	size_t i;

	for (i = 0; i < a->conf->n_services; i++)
		if (!memcmp(&a->conf->services[i].key, key, sizeof(*key)))
			return &a->conf->services[i];
	return NULL;
}
