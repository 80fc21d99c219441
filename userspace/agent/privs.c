// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* userspace/agent/privs.c - once the data path is loaded and attached and the sockets are
 * bound, the agent keeps one capability: CAP_BPF, for the bpf() calls on the maps it already
 * holds (weights, backends, counters), and CAP_NET_ADMIN when it announces the service
 * addresses. Everything else goes, from the bounding set too, so a hook the agent spawns
 * cannot get it back either. */
#include <errno.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include "agent.h"
#include "log.h"

int agent_drop_privileges(bool keep_net_admin)
{
	cap_value_t keep[] = { CAP_BPF, CAP_NET_ADMIN };
	int nkeep = keep_net_admin ? 2 : 1;
	cap_t caps;
	int c, err = 0;

	for (c = 0; c <= CAP_LAST_CAP && !err; c++)
		if (c != CAP_BPF && (c != CAP_NET_ADMIN || !keep_net_admin) && cap_drop_bound(c) &&
		    errno != EINVAL)
			err = -errno;
	caps = cap_init();
	if (!caps)
		return log_err(-errno, "drop capabilities");
	if (!err && (cap_set_flag(caps, CAP_PERMITTED, nkeep, keep, CAP_SET) ||
		     cap_set_flag(caps, CAP_EFFECTIVE, nkeep, keep, CAP_SET) || cap_set_proc(caps)))
		err = -errno;
	cap_free(caps);
	if (!err && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		err = -errno;
	return err ? log_err(err, "drop capabilities") : 0;
}
