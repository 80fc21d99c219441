// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tools/zdd-bpfctl/cmd_conntrack.c - conntrack list [SVC] | count | flush [SVC]. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "addr.h"
#include "ctl.h"

struct walk {
	const struct zdd_service_key *filter;
	struct ctl *ctl;
	struct json_object *arr;
	__u64 now_ns, matched;
	bool flush;
};

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int visit(const struct zdd_ct_entry *e, void *ctx)
{
	struct walk *w = ctx;
	char svc[ZDD_SVC_STRLEN], client[ZDD_ADDR_STRLEN];
	const char *table = zdd_ct_table_name(e->table);
	double age = e->ns && w->now_ns > e->ns ? (w->now_ns - e->ns) / 1e9 : 0;
	struct json_object *o;

	if (w->filter && memcmp(w->filter, &e->key.svc, sizeof(*w->filter)))
		return 0;
	w->matched++;
	if (w->flush)
		return 1;
	zdd_service_format(&e->key.svc, svc, sizeof(svc));
	zdd_addr_format(e->key.saddr, client, sizeof(client));
	if (!w->ctl->json) {
		printf("%-11s %-26s %s%s%s:%-5u backend %-4u %-5s %7.1fs%s\n", table, svc,
		       zdd_addr_is_v4(e->key.saddr) ? "" : "[", client,
		       zdd_addr_is_v4(e->key.saddr) ? "" : "]", ntohs(e->key.sport), e->backend,
		       ctl_pool_name(e->pool), age, e->table == ZDD_CT_EMBRYO ? " old" : " idle");
		return 0;
	}
	o = json_object_new_object();
	json_object_object_add(o, "table", json_object_new_string(table));
	json_object_object_add(o, "service", json_object_new_string(svc));
	json_object_object_add(o, "client", json_object_new_string(client));
	json_object_object_add(o, "client_port", json_object_new_int(ntohs(e->key.sport)));
	json_object_object_add(o, "backend_id", json_object_new_int64(e->backend));
	json_object_object_add(o, "pool", json_object_new_string(ctl_pool_name(e->pool)));
	json_object_object_add(o, "generation", json_object_new_int64(e->generation));
	json_object_object_add(o, "age_s", json_object_new_double(age));
	if (e->table == ZDD_CT_EMBRYO)
		json_object_object_add(o, "syns", json_object_new_int64(e->syns));
	json_object_array_add(w->arr, o);
	return 0;
}

int cmd_conntrack(struct ctl *ctl, int argc, char **argv)
{
	const struct cmd *cmd = ctl_find_cmd("conntrack");
	struct walk w = { .ctl = ctl, .now_ns = now_ns() };
	struct zdd_service_key key;
	__u64 embryos, flows, adopted;
	struct zdd *z;
	int err;

	if (argc < 2 || argc > 3)
		return ctl_usage_error(cmd, "want list [SVC], count or flush [SVC]");
	if (argc == 3) {
		if (!strcmp(argv[1], "count"))
			return ctl_usage_error(cmd, "count takes no SVC");
		if (ctl_parse_service(cmd, argv[2], &key))
			return EXIT_USAGE;
		w.filter = &key;
	}
	if (!strcmp(argv[1], "count")) {
		if (ctl_open(ctl, &z))
			return EXIT_FAIL;
		err = zdd_conntrack_count(z, &embryos, &flows, &adopted);
		zdd_close(z);
		if (err)
			return EXIT_FAIL;
		if (!ctl->json) {
			printf("embryonic %llu\nestablished %llu\nadopted %llu\n",
			       (unsigned long long)embryos, (unsigned long long)flows,
			       (unsigned long long)adopted);
			return EXIT_OK;
		}
		w.arr = json_object_new_object();
		json_object_object_add(w.arr, "embryonic", json_object_new_uint64(embryos));
		json_object_object_add(w.arr, "established", json_object_new_uint64(flows));
		json_object_object_add(w.arr, "adopted", json_object_new_uint64(adopted));
		return ctl_json_print(w.arr);
	}
	if (strcmp(argv[1], "list") && strcmp(argv[1], "flush"))
		return ctl_usage_error(cmd, "unknown subcommand '%s'", argv[1]);
	w.flush = !strcmp(argv[1], "flush");
	if (w.flush ? ctl_open_locked(ctl, &z) : ctl_open(ctl, &z))
		return EXIT_FAIL;
	w.arr = json_object_new_array();
	err = zdd_conntrack_walk(z, visit, &w);
	if (w.flush)
		ctl_close(z);
	else
		zdd_close(z);
	if (err) {
		json_object_put(w.arr);
		return EXIT_FAIL;
	}
	if (w.flush) {
		json_object_put(w.arr);
		printf("zdd: flushed %llu flows\n", (unsigned long long)w.matched);
		return EXIT_OK;
	}
	return ctl_list_done(ctl, w.arr);
}
