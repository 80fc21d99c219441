// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/zdd-bpfctl/cmd_apply.c - placeholder until the declarative apply lands. */
#include "ctl.h"

int cmd_apply(struct ctl *ctl, int argc, char **argv)
{
	(void)ctl;
	(void)argc;
	(void)argv;
	return ctl_usage_error(ctl_find_cmd("apply"), "not implemented yet");
}
