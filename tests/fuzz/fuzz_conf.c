// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/fuzz/fuzz_conf.c - libFuzzer target for the YAML loader, zdd_conf_parse(): either 0
 * and a config that keeps every promise of conffile.h, or an error with *out NULL, a message
 * naming the file, and nothing leaked (LeakSanitizer). The same input gives the same answer
 * whatever error buffer it is given. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "addr.h"
#include "conffile.h"

#define NAME "fuzz.yaml"

#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "fuzz_conf: %s:%d: %s does not hold\n", __FILE__, \
				__LINE__, #cond);                                         \
			abort();                                                          \
		}                                                                         \
	} while (0)

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void check_argv(char *const *argv)
{
	size_t i;

	for (i = 0; i < ZDD_CONF_MAX_ARGV && argv[i]; i++)
		CHECK(i || argv[0][0] == '/'); /* run without PATH lookup */
	CHECK(argv[ZDD_CONF_MAX_ARGV] == NULL);
}

static void check_analysis(const struct zdd_conf_rollout *r)
{
	int i, j;

	CHECK(r->n_analysis >= 0 && r->n_analysis <= ZDD_CONF_MAX_CHECKS);
	CHECK(!r->n_analysis == !r->analysis);
	for (i = 0; i < r->n_analysis; i++) {
		const struct zdd_conf_analysis *a = &r->analysis[i];
		bool prom = a->kind == ZDD_AN_PROMETHEUS;

		CHECK(terminated(a->name, sizeof(a->name)) && a->name[0]);
		CHECK(!a->name[strspn(a->name,
				      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "0123456789_")]);
		CHECK(prom || a->kind == ZDD_AN_WEB);
		CHECK(!strncmp(prom ? a->address : a->url, "http://", 7) &&
		      (prom ? a->query : a->url)[0]);
		CHECK(prom || !strcmp(a->method, "GET") || !strcmp(a->method, "POST"));
		CHECK(!a->body[0] || !strcmp(a->method, "POST"));
		CHECK(a->window_ms > 0 && a->interval_ms >= 100);
		CHECK(a->timeout_ms > 0 && a->timeout_ms <= a->interval_ms);
		CHECK(a->has_max || a->has_min || a->has_ratio);
		CHECK(!a->has_max || !a->has_min || a->min <= a->max);
		CHECK(!a->has_ratio || (a->compare_blue && a->max_ratio_to_blue >= 1.0));
		CHECK(a->failure_limit >= 1 && a->failure_limit <= 100);
		CHECK(a->inconclusive_limit >= 1 && a->inconclusive_limit <= 1000);
		CHECK(a->line >= 1);
		for (j = 0; j < i; j++) /* one name, one check */
			CHECK(strcmp(a->name, r->analysis[j].name));
	}
}

static void check_service(const struct zdd_conf_service *s)
{
	const struct zdd_conf_rollout *r = &s->rollout;
	const struct zdd_conf_check *k = &s->check;
	struct zdd_service_key again;
	char buf[ZDD_SVC_STRLEN];
	bool v4 = zdd_addr_is_v4(s->key.addr);
	size_t i, j;

	zdd_service_format(&s->key, buf, sizeof(buf));
	CHECK(zdd_service_parse(buf, &again) == 0 && !memcmp(&again, &s->key, sizeof(again)));
	CHECK(s->affinity == ZDD_AFF_CLIENT || s->affinity == ZDD_AFF_FLOW);
	CHECK(s->client_prefix4 >= 1 && s->client_prefix4 <= 32);
	CHECK(s->client_prefix6 >= 1 && s->client_prefix6 <= 128);
	CHECK(s->green_bp >= -1 && s->green_bp <= ZDD_MAX_WEIGHT_BP);
	CHECK(!s->n_backends == !s->backends);
	for (i = 0; i < s->n_backends; i++) {
		const struct zdd_conf_backend *b = &s->backends[i];

		CHECK(zdd_addr_is_v4(b->addr) == v4);
		CHECK(b->pool == ZDD_BLUE || b->pool == ZDD_GREEN);
		CHECK(b->state == ZDD_BE_UP || b->state == ZDD_BE_DRAIN || b->state == ZDD_BE_DOWN);
		CHECK(b->weight <= ZDD_MAX_BACKEND_WEIGHT && b->line >= 1);
		for (j = 0; j < i; j++) /* one address, one backend */
			CHECK(memcmp(b->addr, s->backends[j].addr, 16));
	}
	CHECK(k->type == ZDD_CHECK_NONE || k->type == ZDD_CHECK_TCP || k->type == ZDD_CHECK_HTTP);
	CHECK(k->port >= 1 && terminated(k->path, sizeof(k->path)) && k->path[0] == '/');
	for (i = 0; k->path[i]; i++) /* it goes into an HTTP request line */
		CHECK((unsigned char)k->path[i] > 0x20 && (unsigned char)k->path[i] < 0x7f);
	CHECK(k->expect_status >= 100 && k->expect_status <= 599);
	CHECK(k->interval_ms > 0 && k->timeout_ms > 0 && k->timeout_ms < k->interval_ms);
	CHECK(k->rise >= 1 && k->rise <= 100 && k->fall >= 1 && k->fall <= 100);
	CHECK(r->n_steps >= 1 && r->n_steps <= ZDD_CONF_MAX_STEPS);
	for (i = 0; i < (size_t)r->n_steps; i++)
		CHECK(r->steps_bp[i] > (i ? r->steps_bp[i - 1] : 0));
	CHECK(r->steps_bp[r->n_steps - 1] == ZDD_MAX_WEIGHT_BP);
	CHECK(r->interval_ms > 0 && r->handshake_timeout_ms > 0 && r->min_samples >= 1);
	CHECK(r->max_failure_bp <= ZDD_MAX_WEIGHT_BP);
	CHECK(r->max_ratio_to_blue >= 1.0 && r->max_ratio_to_blue <= 100.0);
	CHECK(r->hooks.timeout_ms > 0);
	check_argv(r->hooks.pre_step);
	check_argv(r->hooks.post_promote);
	check_argv(r->hooks.post_rollback);
	check_analysis(r);
	CHECK(s->line >= 1);
}

static void check_conf(const struct zdd_conf *c)
{
	const struct zdd_conf_agent *a = &c->agent;
	struct zdd_service_key key;
	char svc[sizeof(a->metrics) + 4];
	size_t i, j;

	CHECK(terminated(a->interface, sizeof(a->interface)));
	CHECK(terminated(a->pin_dir, sizeof(a->pin_dir)) && a->pin_dir[0] == '/');
	CHECK(terminated(a->control_socket, sizeof(a->control_socket)));
	CHECK(a->control_socket[0] == '/');
	CHECK(terminated(a->state_file, sizeof(a->state_file)) && a->state_file[0] == '/');
	CHECK(terminated(a->metrics, sizeof(a->metrics)));
	snprintf(svc, sizeof(svc), "%s/tcp", a->metrics);
	CHECK(zdd_service_parse(svc, &key) == 0);
	CHECK(!c->n_services == !c->services);
	for (i = 0; i < c->n_services; i++) {
		check_service(&c->services[i]);
		for (j = 0; j < i; j++) /* one service key, one entry */
			CHECK(memcmp(&c->services[i].key, &c->services[j].key, sizeof(key)));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zdd_conf *c = (struct zdd_conf *)&c, *again = (struct zdd_conf *)&again;
	char err[256], small[8];
	int rc, rc2;

	memset(err, 0x5a, sizeof(err));
	rc = zdd_conf_parse(NAME, (const char *)data, size, &c, err, sizeof(err));
	if (rc) {
		CHECK(rc == -EINVAL || rc == -ENOMEM);
		CHECK(c == NULL); /* a rejected file yields nothing (and leaks nothing) */
		CHECK(terminated(err, sizeof(err)) && !strncmp(err, NAME ":", strlen(NAME ":")));
	} else {
		CHECK(c != NULL && err[0] == '\0');
		check_conf(c);
	}
	/* A small buffer truncates the message, never the verdict. */
	rc2 = zdd_conf_parse(NAME, (const char *)data, size, &again, small, sizeof(small));
	CHECK(rc2 == rc && !again == !c && terminated(small, sizeof(small)));
	zdd_conf_free(again);
	zdd_conf_free(c);
	return 0;
}
