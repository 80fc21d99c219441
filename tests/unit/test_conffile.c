/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* tests/unit/test_conffile.c - zdd.yaml: a full file into the expected structs, defaults, the
 * lab example from disk, a table of bad files with their line and reason, and the percent and
 * duration parsers the CLI shares. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "zdd_abi.h"
#include "addr.h"
#include "conffile.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define EXAMPLE	      "tests/unit/conf/example.yaml"

static const char full_yaml[] = "# every key set, line numbers matter below\n" /* 1 */
				"agent:\n"
				"  interface: eth1\n"
				"  pin_dir: /sys/fs/bpf/zdd-test\n"
				"  metrics: \"[fd00:5a::1]:9100\"\n" /* 5 */
				"  control_socket: /run/zdd/test.sock\n"
				"  state_file: /var/lib/zdd/test.json\n"
				"services:\n"
				"  - service: 198.19.0.10:80/tcp\n"
				"    affinity: flow\n" /* 10 */
				"    client_prefix: 24\n"
				"    green_weight: 12.5\n"
				"    backends:\n"
				"      - address: 198.18.3.11\n"
				"        pool: blue\n" /* 15 */
				"        weight: 200\n"
				"      - address: 198.18.3.21\n"
				"        pool: green\n"
				"        weight: 0\n"
				"        state: drain\n" /* 20 */
				"      - {address: 198.18.3.22, pool: green, state: down}\n"
				"    health_check:\n"
				"      type: http\n"
				"      port: 8080\n"
				"      path: /healthz?full=1\n" /* 25 */
				"      expect_status: 204\n"
				"      interval: 1.5s\n"
				"      timeout: 250ms\n"
				"      rise: 3\n"
				"      fall: 5\n" /* 30 */
				"    rollout:\n"
				"      steps: [0.5, 5, 33.33, 100]\n"
				"      interval: 2m\n"
				"      handshake_timeout: 1500ms\n"
				"      min_samples: 100\n" /* 35 */
				"      max_failure_ratio: 2.5\n"
				"      max_ratio_to_blue: 1.5\n"
				"      hooks:\n"
				"        pre_step: [\"/usr/local/bin/migrate\", \"--step\"]\n"
				"        post_promote: [\"/bin/true\"]\n" /* 40 */
				"        post_rollback:\n"
				"          - /usr/bin/logger\n"
				"          - zdd rolled back\n"
				"        timeout: 45s\n"
				"  - service: \"[fd00:5a::10]:443/udp\"\n" /* 45 */
				"    client_prefix: 48\n"
				"    green_weight: 100\n"
				"    backends:\n"
				"      - address: fd00:5a::3:11\n"
				"        pool: blue\n" /* 50 */
				"      - address: fd00:5a::3:21\n"
				"        pool: green\n"
				"    health_check:\n"
				"      type: tcp\n"
				"  - service: 198.19.0.11:53/udp\n" /* 55 */
				"    backends: []\n";

static void addr_is(const __u8 addr[16], const char *want)
{
	__u8 a[16];

	assert_int_equal(zdd_addr_parse(want, a), 0);
	assert_memory_equal(addr, a, 16);
}

static void service_is(const struct zdd_service_key *key, const char *want)
{
	struct zdd_service_key k;

	assert_int_equal(zdd_service_parse(want, &k), 0);
	assert_memory_equal(key, &k, sizeof(k));
}

static void defaults_of_agent(const struct zdd_conf_agent *a)
{
	assert_string_equal(a->interface, "");
	assert_string_equal(a->pin_dir, ZDD_PIN_DIR);
	assert_string_equal(a->pin_dir, "/sys/fs/bpf/zdd");
	assert_string_equal(a->metrics, "127.0.0.1:9334");
	assert_string_equal(a->control_socket, "/run/zdd/agent.sock");
	assert_string_equal(a->state_file, "/var/lib/zdd/state.json");
}

static void defaults_of_check(const struct zdd_conf_check *k, __u16 port)
{
	assert_int_equal(k->type, ZDD_CHECK_NONE);
	assert_int_equal(k->port, port);
	assert_string_equal(k->path, "/");
	assert_int_equal(k->expect_status, 200);
	assert_int_equal(k->interval_ms, 1000);
	assert_int_equal(k->timeout_ms, 500);
	assert_int_equal(k->rise, 2);
	assert_int_equal(k->fall, 2);
}

static void defaults_of_rollout(const struct zdd_conf_rollout *r)
{
	static const __u16 steps[] = { 100, 500, 2500, 5000, 10000 };

	assert_false(r->present);
	assert_int_equal(r->n_steps, 5);
	assert_memory_equal(r->steps_bp, steps, sizeof(steps));
	assert_int_equal(r->interval_ms, 10000);
	assert_int_equal(r->handshake_timeout_ms, 3000);
	assert_int_equal(r->min_samples, 20);
	assert_int_equal(r->max_extension_ms, 60000);
	assert_int_equal(r->confidence_bp, 9990);
	assert_int_equal(r->max_failure_bp, 500);
	assert_true(r->max_ratio_to_blue == 2.0);
	assert_null(r->hooks.pre_step[0]);
	assert_null(r->hooks.post_promote[0]);
	assert_null(r->hooks.post_rollback[0]);
	assert_int_equal(r->hooks.timeout_ms, 30000);
	assert_int_equal(r->n_analysis, 0);
	assert_null(r->analysis);
}

static void full_file_round_trips(void **state)
{
	static const __u16 steps[] = { 50, 500, 3333, 10000 };
	const struct zdd_conf_service *s;
	const struct zdd_conf_rollout *r;
	const struct zdd_conf_check *k;
	struct zdd_conf *c;
	char err[256];

	(void)state;
	assert_int_equal(
		zdd_conf_parse("full.yaml", full_yaml, strlen(full_yaml), &c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(c->agent.interface, "eth1");
	assert_string_equal(c->agent.pin_dir, "/sys/fs/bpf/zdd-test");
	assert_string_equal(c->agent.metrics, "[fd00:5a::1]:9100");
	assert_string_equal(c->agent.control_socket, "/run/zdd/test.sock");
	assert_string_equal(c->agent.state_file, "/var/lib/zdd/test.json");
	assert_int_equal(c->n_services, 3);

	s = &c->services[0];
	service_is(&s->key, "198.19.0.10:80/tcp");
	assert_int_equal(s->line, 9);
	assert_int_equal(s->affinity, ZDD_AFF_FLOW);
	assert_int_equal(s->client_prefix4, 24);
	assert_int_equal(s->client_prefix6, 64);
	assert_int_equal(s->green_bp, 1250);
	assert_int_equal(s->n_backends, 3);
	addr_is(s->backends[0].addr, "198.18.3.11");
	assert_int_equal(s->backends[0].pool, ZDD_BLUE);
	assert_int_equal(s->backends[0].weight, 200);
	assert_int_equal(s->backends[0].state, ZDD_BE_UP);
	assert_int_equal(s->backends[0].line, 14);
	addr_is(s->backends[1].addr, "198.18.3.21");
	assert_int_equal(s->backends[1].pool, ZDD_GREEN);
	assert_int_equal(s->backends[1].weight, 0);
	assert_int_equal(s->backends[1].state, ZDD_BE_DRAIN);
	assert_int_equal(s->backends[1].line, 17);
	addr_is(s->backends[2].addr, "198.18.3.22");
	assert_int_equal(s->backends[2].pool, ZDD_GREEN);
	assert_int_equal(s->backends[2].weight, ZDD_DEF_BACKEND_WEIGHT);
	assert_int_equal(s->backends[2].state, ZDD_BE_DOWN);
	assert_int_equal(s->backends[2].line, 21);

	k = &s->check;
	assert_int_equal(k->type, ZDD_CHECK_HTTP);
	assert_int_equal(k->port, 8080);
	assert_string_equal(k->path, "/healthz?full=1");
	assert_int_equal(k->expect_status, 204);
	assert_int_equal(k->interval_ms, 1500);
	assert_int_equal(k->timeout_ms, 250);
	assert_int_equal(k->rise, 3);
	assert_int_equal(k->fall, 5);

	r = &s->rollout;
	assert_true(r->present);
	assert_int_equal(r->n_steps, 4);
	assert_memory_equal(r->steps_bp, steps, sizeof(steps));
	assert_int_equal(r->interval_ms, 120000);
	assert_int_equal(r->handshake_timeout_ms, 1500);
	assert_int_equal(r->min_samples, 100);
	assert_int_equal(r->max_failure_bp, 250);
	assert_true(r->max_ratio_to_blue == 1.5);
	assert_string_equal(r->hooks.pre_step[0], "/usr/local/bin/migrate");
	assert_string_equal(r->hooks.pre_step[1], "--step");
	assert_null(r->hooks.pre_step[2]);
	assert_string_equal(r->hooks.post_promote[0], "/bin/true");
	assert_null(r->hooks.post_promote[1]);
	assert_string_equal(r->hooks.post_rollback[0], "/usr/bin/logger");
	assert_string_equal(r->hooks.post_rollback[1], "zdd rolled back");
	assert_null(r->hooks.post_rollback[2]);
	assert_int_equal(r->hooks.timeout_ms, 45000);

	/* IPv6: the prefix lands in client_prefix6, the check port defaults to the service's. */
	s = &c->services[1];
	service_is(&s->key, "[fd00:5a::10]:443/udp");
	assert_int_equal(s->key.proto, IPPROTO_UDP);
	assert_int_equal(ntohs(s->key.port), 443);
	assert_int_equal(s->line, 45);
	assert_int_equal(s->affinity, ZDD_AFF_CLIENT);
	assert_int_equal(s->client_prefix4, 32);
	assert_int_equal(s->client_prefix6, 48);
	assert_int_equal(s->green_bp, 10000);
	assert_int_equal(s->n_backends, 2);
	addr_is(s->backends[0].addr, "fd00:5a::3:11");
	assert_int_equal(s->backends[0].pool, ZDD_BLUE);
	addr_is(s->backends[1].addr, "fd00:5a::3:21");
	assert_int_equal(s->backends[1].pool, ZDD_GREEN);
	assert_int_equal(s->backends[1].state, ZDD_BE_UP);
	assert_int_equal(s->backends[1].weight, ZDD_DEF_BACKEND_WEIGHT);
	assert_int_equal(s->check.type, ZDD_CHECK_TCP);
	assert_int_equal(s->check.port, 443);
	assert_int_equal(s->check.interval_ms, 1000);
	defaults_of_rollout(&s->rollout);

	s = &c->services[2];
	service_is(&s->key, "198.19.0.11:53/udp");
	assert_int_equal(s->n_backends, 0);
	assert_int_equal(s->green_bp, -1);
	defaults_of_check(&s->check, 53);
	defaults_of_rollout(&s->rollout);
	zdd_conf_free(c);
}

static void minimal_files_get_defaults(void **state)
{
	static const char empty_list[] = "services: []\n";
	static const char one[] = "services:\n  - service: 198.19.0.10:80/tcp\n";
	const struct zdd_conf_service *s;
	struct zdd_conf *c;
	char err[256];

	(void)state;
	assert_int_equal(
		zdd_conf_parse("min.yaml", empty_list, strlen(empty_list), &c, err, sizeof(err)),
		0);
	assert_int_equal(c->n_services, 0);
	defaults_of_agent(&c->agent);
	zdd_conf_free(c);

	assert_int_equal(zdd_conf_parse("min.yaml", one, strlen(one), &c, err, sizeof(err)), 0);
	defaults_of_agent(&c->agent);
	assert_int_equal(c->n_services, 1);
	s = &c->services[0];
	service_is(&s->key, "198.19.0.10:80/tcp");
	assert_int_equal(s->line, 2);
	assert_int_equal(s->affinity, ZDD_AFF_CLIENT);
	assert_int_equal(s->client_prefix4, 32);
	assert_int_equal(s->client_prefix6, 64);
	assert_int_equal(s->green_bp, -1);
	assert_int_equal(s->n_backends, 0);
	assert_null(s->backends);
	defaults_of_check(&s->check, 80);
	defaults_of_rollout(&s->rollout);
	zdd_conf_free(c);

	zdd_conf_free(NULL);
}

/* The lab example parses, from disk, to what the lab expects. */
static void example_file_loads(void **state)
{
	const struct zdd_conf_service *s;
	struct zdd_conf *c;
	char err[256];
	size_t i;

	(void)state;
	assert_int_equal(zdd_conf_load(EXAMPLE, &c, err, sizeof(err)), 0);
	assert_string_equal(c->agent.interface, "eth1");
	assert_int_equal(c->n_services, 2);
	s = &c->services[0];
	service_is(&s->key, "198.19.0.10:80/tcp");
	assert_int_equal(s->n_backends, 4);
	addr_is(s->backends[0].addr, "198.18.3.11");
	addr_is(s->backends[3].addr, "198.18.3.22");
	for (i = 0; i < s->n_backends; i++)
		assert_int_equal(s->backends[i].pool, i < 2 ? ZDD_BLUE : ZDD_GREEN);
	assert_int_equal(s->green_bp, 0);
	assert_int_equal(s->check.type, ZDD_CHECK_HTTP);
	assert_true(s->rollout.present);
	assert_string_equal(s->rollout.hooks.post_rollback[3], "green rolled back");
	s = &c->services[1];
	service_is(&s->key, "[fd00:5a::10]:80/tcp");
	assert_int_equal(s->n_backends, 2);
	assert_int_equal(s->client_prefix6, 56);
	zdd_conf_free(c);
}

static void load_reports_file_errors(void **state)
{
	const char *missing = "tests/unit/conf/no-such-file.yaml";
	struct zdd_conf *c = (struct zdd_conf *)&c;
	char err[256], want[256];

	(void)state;
	assert_int_equal(zdd_conf_load(missing, &c, err, sizeof(err)), -ENOENT);
	assert_null(c);
	snprintf(want, sizeof(want), "%s: cannot open: %s", missing, strerror(ENOENT));
	assert_string_equal(err, want);
	assert_int_equal(zdd_conf_load("tests/unit/conf", &c, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, "tests/unit/conf: cannot read"));
}

/* Errors go into any buffer size, or none, and always name the file first. */
static void error_buffer_is_bounded(void **state)
{
	static const char bad[] = "services:\n  - service: nowhere\n";
	struct zdd_conf *c;
	char small[12];

	(void)state;
	assert_int_equal(zdd_conf_parse("x.yaml", bad, strlen(bad), &c, NULL, 0), -EINVAL);
	assert_null(c);
	memset(small, 'Z', sizeof(small));
	assert_int_equal(zdd_conf_parse("x.yaml", bad, strlen(bad), &c, small, sizeof(small)),
			 -EINVAL);
	assert_string_equal(small, "x.yaml:2: s");
	assert_int_equal(zdd_conf_parse("x.yaml", bad, strlen(bad), &c, small, 1), -EINVAL);
	assert_string_equal(small, "");
}

/* Every prefix of a valid file either parses or fails cleanly with a located message. */
static void truncated_files_fail_cleanly(void **state)
{
	size_t len, n = strlen(full_yaml), ok = 0;
	struct zdd_conf *c;
	char err[256];
	int rc;

	(void)state;
	for (len = 0; len <= n; len++) {
		rc = zdd_conf_parse("cut.yaml", full_yaml, len, &c, err, sizeof(err));
		if (!rc) {
			ok++;
			zdd_conf_free(c);
			continue;
		}
		assert_int_equal(rc, -EINVAL);
		assert_null(c);
		assert_int_equal(strncmp(err, "cut.yaml:", 9), 0);
	}
	assert_true(ok > 0 && ok < n);
}

#define SVC4 "services:\n  - service: 198.19.0.10:80/tcp\n" /* lines 1-2 */
#define SVC6 "services:\n  - service: \"[fd00:5a::10]:80/tcp\"\n"
#define BE1                              \
	"    backends:\n"                \
	"      - address: 198.18.3.11\n" \
	"        pool: blue\n"			      /* lines 3-5 */
#define CHECK "    health_check:\n      type: http\n" /* lines 3-4 */
#define ROLL  "    rollout:\n"			      /* line 3 */
#define AN    ROLL "      analysis:\n"		      /* line 4, the first check on 5 */
#define PROM  "          prometheus: { address: \"http://127.0.0.1:9090\", query: up }\n"
#define WEB   "          web:\n"
#define AN_C(n)                                                                                \
	"        - { name: c" #n ", max: 1, prometheus: { address: \"http://h:1\", query: up " \
	"} }\n"

struct bad_case {
	const char *yaml;
	int line; /* 0: "bad.yaml: " without a line */
	const char *reason;
};

static const struct bad_case bad_cases[] = {
	/* The document as a whole. */
	{ "", 1, "empty file" },
	{ "# only a comment\n\n", 1, "empty file" },
	{ "- services\n", 1, "must be a mapping" },
	{ "services\n", 1, "must be a mapping" },
	{ "services: [\n", 2, "syntax error" },
	{ "services:\n  - service: 198.19.0.10:80/tcp\n   affinity: flow\n", 3, "syntax error" },
	{ "services: []\n---\nservices: []\n", 2, "only one YAML document" },
	{ "services: []\nagent: \x01\n", 2, "control characters" },
	{ "services: []\nagent: \xff\n", 2, "invalid text" },
	/* Anchors, aliases, tags. */
	{ "agent: &a {}\nservices: []\n", 1, "aliases are not supported" },
	{ "services: *svcs\n", 1, "aliases are not supported" },
	{ "services: !!seq []\n", 1, "tags are not supported" },
	/* Types, keys. */
	{ "services: {}\n", 1, "services: expected a list, found a mapping" },
	{ "services:\n", 1, "write [] for none" },
	{ "agent: eth0\nservices: []\n", 1, "agent: expected a mapping, found a scalar" },
	{ "services: []\nservice: []\n", 2, "unknown key 'service' in the top level" },
	{ "Services: []\n", 1, "unknown key 'Services'" },
	{ "services: []\nservices: []\n", 2, "duplicate key 'services' (first on line 1)" },
	{ "agent: {}\n", 1, "missing required key 'services'" },
	{ "services: [ 1 ]\n", 1, "service entry: expected a mapping" },
	{ "? [a]\n: 1\nservices: []\n", 1, "keys must be plain names" },
	{ "agent:\n  interface: \"eth\\0\"\nservices: []\n", 2, "NUL byte" },
	/* Agent. */
	{ "agent:\n  interface: a-very-long-name\nservices: []\n", 2, "too long" },
	{ "agent:\n  interface: eth/0\nservices: []\n", 2, "not a valid interface name" },
	{ "agent:\n  announce_interface: a:b\nservices: []\n", 2, "not a valid interface name" },
	/* agent.cluster: etcd endpoints, prefix, node name, lease */
	{ "agent:\n  cluster: {}\nservices: []\n", 2, "missing required key 'endpoints'" },
	{ "agent:\n  cluster: { endpoints: [] }\nservices: []\n", 2, "1 to 8 etcd members" },
	{ "agent:\n  cluster: { endpoints: [ftp://e:2379] }\nservices: []\n", 2,
	  "'ftp://e:2379' is not http(s)://HOST:PORT" },
	{ "agent:\n  cluster: { endpoints: [https://e:2379, http://f:2379] }\nservices: []\n", 2,
	  "all http:// or all https://" },
	{ "agent:\n  cluster: { endpoints: [http://e:2379], ca: /etc/passwd }\nservices: []\n", 2,
	  "'ca', 'cert' and 'key' are for https:// endpoints" },
	{ "agent:\n  cluster: { endpoints: [https://e:2379], cert: /etc/passwd }\nservices: []\n",
	  2, "'cert' and 'key' both, or neither" },
	{ "agent:\n  cluster: { endpoints: [https://e:2379], ca: /no/such/ca.crt }\nservices: []\n",
	  2, "ca: '/no/such/ca.crt': No such file or directory" },
	{ "agent:\n  cluster: { endpoints: [https://e:2379], key: etc/k }\nservices: []\n", 2,
	  "key: 'etc/k' is not an absolute path" },
	{ "agent:\n  cluster: { endpoints: ['http://e:2379/x'] }\nservices: []\n", 2,
	  "is not http(s)://HOST:PORT" },
	{ "agent:\n  cluster: { endpoints: ['http://e:2379'], prefix: zdd }\nservices: []\n", 2,
	  "prefix: 'zdd' must start and end with '/'" },
	{ "agent:\n  cluster: { endpoints: ['http://e:2379'], node: 'a b' }\nservices: []\n", 2,
	  "node: 'a b' is not a name" },
	{ "agent:\n  cluster: { endpoints: ['http://e:2379'], lease_ttl: 1500ms }\nservices: []\n",
	  2, "lease_ttl: whole seconds from 1s to 60s" },
	{ "agent:\n  cluster: { endpoints: ['http://e:2379'], peers: 3 }\nservices: []\n", 2,
	  "unknown key 'peers'" },
	{ "agent:\n  interface:\nservices: []\n", 2, "interface: missing value" },
	{ "agent:\n  pin_dir: sys/fs/bpf\nservices: []\n", 2, "not an absolute path" },
	{ "agent:\n  metrics: 198.18.0.1\nservices: []\n", 2, "not ADDR:PORT" },
	{ "agent:\n  metrics: fd00::1:9334\nservices: []\n", 2, "not ADDR:PORT" },
	{ "agent:\n  metrics: \"[fd00:5a::1]:9334\"\n  metrcs: 1\nservices: []\n", 3,
	  "unknown key 'metrcs' in agent" },
	/* Services. */
	{ "services:\n  - affinity: flow\n", 2, "missing required key 'service'" },
	{ "services:\n  - service: 198.19.0.10:80\n", 2, "not ADDR:PORT/tcp|udp" },
	{ "services:\n  - service: fd00:5a::10:80/tcp\n", 2, "not ADDR:PORT/tcp|udp" },
	{ "services:\n  - service: 198.19.0.10:80/tcp\n  - service: 198.19.0.10:80/tcp\n", 3,
	  "service 198.19.0.10:80/tcp is listed twice (first on line 2)" },
	{ SVC4 "    affinity: sticky\n", 3, "'sticky' is not one of client|flow" },
	{ SVC4 "    client_prefix: 33\n", 3, "33 is out of range 1..32" },
	{ SVC6 "    client_prefix: 129\n", 3, "129 is out of range 1..128" },
	{ SVC4 "    client_prefix: -1\n", 3, "not an integer" },
	{ SVC4 "    client_prefix: 0\n", 3, "0 is out of range 1..32" },
	{ SVC4 "    green_weight: 12.345\n", 3, "at most two decimals" },
	{ SVC4 "    green_weight: 100.01\n", 3, "not a percentage" },
	{ SVC4 "    green_weight: 12%\n", 3, "not a percentage" },
	{ SVC4 "    backends:\n", 3, "backends: expected a list, found an empty value" },
	{ SVC4 "    backends: {}\n", 3, "backends: expected a list, found a mapping" },
	{ SVC4 "    helth_check: {}\n", 3, "unknown key 'helth_check' in service" },
	/* Backends. */
	{ SVC4 "    backends:\n      - pool: blue\n", 4, "missing required key 'address'" },
	{ SVC4 "    backends:\n      - address: 198.18.3.11\n", 4, "missing required key 'pool'" },
	{ SVC4 "    backends:\n      - address: 198.18.3.256\n        pool: blue\n", 4,
	  "'198.18.3.256' is not an IPv4 or IPv6 address" },
	{ SVC4 "    backends:\n      - address: fd00:5a::3:11\n        pool: blue\n", 4,
	  "is IPv6 but the service is IPv4" },
	{ SVC6 "    backends:\n      - address: 198.18.3.11\n        pool: blue\n", 4,
	  "is IPv4 but the service is IPv6" },
	{ SVC4 BE1 "        pool: green\n", 6, "duplicate key 'pool' (first on line 5)" },
	{ SVC4 BE1 "        pol: green\n", 6, "unknown key 'pol' in backend" },
	{ SVC4 BE1 "        weight: 10001\n", 6, "10001 is out of range 0..10000" },
	{ SVC4 BE1 "        weight: 100x\n", 6, "'100x' is not an integer" },
	{ SVC4 BE1 "        weight: 1.5\n", 6, "'1.5' is not an integer" },
	{ SVC4 BE1 "        weight: 0100\n", 6, "weight: '0100' has a leading zero" },
	{ SVC4 BE1 "        weight: 99999999999999999999\n", 6, "out of range" },
	{ SVC4 BE1 "        state: gone\n", 6, "'gone' is not one of up|drain|down" },
	{ SVC4 "    backends:\n      - address: 198.18.3.11\n        pool: purple\n", 5,
	  "'purple' is not one of blue|green" },
	{ SVC4 BE1 "      - address: 198.18.3.11\n        pool: green\n", 6,
	  "backend 198.18.3.11 is listed twice in this service (first on line 4)" },
	{ SVC4 "    backends: [ 198.18.3.11 ]\n", 3, "backend: expected a mapping" },
	/* Health checks. */
	{ SVC4 "    health_check: {}\n", 3, "missing required key 'type'" },
	{ SVC4 "    health_check: { type: udp }\n", 3, "'udp' is not one of tcp|http" },
	{ SVC4 "    health_check:\n      type: tcp\n      path: /\n", 5,
	  "path: only http checks have one" },
	{ SVC4 "    health_check:\n      type: tcp\n      expect_status: 200\n", 5,
	  "expect_status: only http checks have one" },
	{ SVC4 CHECK "      path: health\n", 5, "path: must start with /" },
	{ SVC4 CHECK "      path: /a b\n", 5, "printable ASCII without spaces" },
	{ SVC4 CHECK "      expect_status: 600\n", 5, "600 is out of range 100..599" },
	{ SVC4 CHECK "      port: 0\n", 5, "0 is out of range 1..65535" },
	{ SVC4 CHECK "      port: 65536\n", 5, "65536 is out of range 1..65535" },
	{ SVC4 CHECK "      interval: 1x\n", 5, "'1x' is not a duration" },
	{ SVC4 CHECK "      interval: 0s\n", 5, "interval: must be longer than 0" },
	{ SVC4 CHECK "      interval: 1s\n      timeout: 1s\n", 6,
	  "timeout (1000ms) must be shorter than interval (1000ms)" },
	{ SVC4 CHECK "      interval: 400ms\n", 5,
	  "timeout (500ms) must be shorter than interval (400ms)" },
	{ SVC4 CHECK "      rise: 0\n", 5, "0 is out of range 1..100" },
	{ SVC4 CHECK "      fall: 101\n", 5, "101 is out of range 1..100" },
	/* Rollouts. */
	{ SVC4 ROLL "      steps: []\n", 4, "steps: must not be empty" },
	{ SVC4 ROLL "      steps: [1, 5, 5, 100]\n", 4,
	  "steps: 5 is not above the step before it" },
	{ SVC4 ROLL "      steps: [0, 50, 100]\n", 4, "every step must be above 0" },
	{ SVC4 ROLL "      steps: [1, 5, 50]\n", 4, "the last step must be 100" },
	{ SVC4 ROLL "      steps: [1, 5, 150]\n", 4, "not a percentage" },
	{ SVC4 ROLL "      steps:\n        - 1\n        - 1.001\n        - 100\n", 6,
	  "at most two decimals" },
	{ SVC4 ROLL "      steps: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,\n"
		    "        18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 100]\n",
	  5, "more than 32 steps" },
	{ SVC4 ROLL "      steps: 100\n", 4, "steps: expected a list, found a scalar" },
	{ SVC4 ROLL "      interval: soon\n", 4, "not a duration" },
	{ SVC4 ROLL "      handshake_timeout: 0.5ms\n", 4, "not a duration" },
	/* the data path keeps handshake outcomes 17 s: a longer timeout is refused, not cut */
	{ SVC4 ROLL "      handshake_timeout: 20s\n", 4, "20000 ms is out of 100 ms..10 s" },
	{ SVC4 ROLL "      handshake_timeout: 50ms\n", 4, "50 ms is out of 100 ms..10 s" },
	{ SVC4 ROLL "      max_step_extension: soon\n", 4, "not a duration" },
	{ SVC4 ROLL "      confidence: 80\n", 4, "confidence: must be from 90% to 99.99%" },
	{ SVC4 ROLL "      confidence: 100\n", 4, "confidence: must be from 90% to 99.99%" },
	{ SVC4 ROLL "      confidence: 99.999\n", 4, "not a percentage" },
	{ SVC4 ROLL "      min_samples: 0\n", 4, "out of range 1..1000000000" },
	{ SVC4 ROLL "      max_failure_ratio: 101\n", 4, "not a percentage" },
	{ SVC4 ROLL "      max_ratio_to_blue: 0.5\n", 4, "not a decimal number from 1 to 100" },
	{ SVC4 ROLL "      max_ratio_to_blue: 2.0x\n", 4, "not a decimal number" },
	{ SVC4 ROLL "      hooks:\n        pre_step: migrate --step\n", 5,
	  "pre_step: expected a list, found a scalar" },
	{ SVC4 ROLL "      hooks:\n        pre_step: [migrate]\n", 5,
	  "'migrate' is not an absolute path" },
	{ SVC4 ROLL "      hooks:\n        post_promote: []\n", 5,
	  "post_promote: must not be empty" },
	{ SVC4 ROLL "      hooks:\n        post_rollback: [/bin/echo, [a]]\n", 5,
	  "post_rollback: expected a scalar, found a list" },
	{ SVC4 ROLL "      hooks:\n        pre_step: [/bin/echo, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,\n"
		    "          11, 12, 13, 14, 15, 16]\n",
	  6, "more than 16 arguments" },
	{ SVC4 ROLL "      hooks:\n        timeout: 0\n", 5, "timeout: must be longer than 0" },
	{ SVC4 ROLL "      hooks:\n        on_abort: [/bin/true]\n", 5,
	  "unknown key 'on_abort' in hooks" },
	{ SVC4 ROLL "      stepz: [100]\n", 4, "unknown key 'stepz' in rollout" },
	/* Analysis. */
	{ SVC4 ROLL "      analysis: {}\n", 4, "analysis: expected a list, found a mapping" },
	{ SVC4 ROLL "      analysis: [ a ]\n", 4, "analysis check: expected a mapping" },
	{ SVC4 AN "        - max: 1\n" PROM, 5, "analysis check: missing required key 'name'" },
	{ SVC4 AN "        - name: a\n" PROM, 5,
	  "analysis check a: needs max, min or max_ratio_to_blue" },
	{ SVC4 AN "        - name: a-b\n" PROM "          max: 1\n", 5,
	  "name: 'a-b' may hold letters, digits and _ only" },
	{ SVC4 AN
	  "        - name: a234567890123456789012345678901234567890123456789012345678901234\n" PROM
	  "          max: 1\n",
	  5, "name: too long (at most 63 characters)" },
	{ SVC4 AN "        - { name: a, max: 1 }\n", 5,
	  "analysis check a: needs exactly one of 'prometheus' and 'web'" },
	{ SVC4 AN "        - name: a\n" PROM WEB "            url: http://127.0.0.1:80/\n"
		  "          max: 1\n",
	  5, "needs exactly one of 'prometheus' and 'web'" },
	{ SVC4 AN "        - name: a\n          max: 1\n          maximum: 2\n" PROM, 7,
	  "unknown key 'maximum' in analysis check" },
	{ SVC4 AN "        - name: a\n          max: 1\n          prometheus: { query: up }\n", 7,
	  "prometheus: missing required key 'address'" },
	{ SVC4 AN "        - name: a\n          max: 1\n"
		  "          prometheus: { address: \"http://h:9090\" }\n",
	  7, "prometheus: missing required key 'query'" },
	{ SVC4 AN "        - name: a\n          max: 1\n"
		  "          prometheus: { address: \"http://h:9090\", query: up, step: 1 }\n",
	  7, "unknown key 'step' in prometheus" },
	{ SVC4 AN "        - name: a\n          max: 1\n"
		  "          prometheus: { address: \"https://h:9090\", query: up }\n",
	  7, "address: 'https://h:9090' is not http://HOST:PORT" },
	{ SVC4 AN "        - name: a\n          max: 1\n"
		  "          prometheus: { address: \"http://h\", query: up }\n",
	  7, "is not http://HOST:PORT" },
	{ SVC4 AN "        - name: a\n          max: 1\n"
		  "          prometheus: { address: \"http://h:65536\", query: up }\n",
	  7, "is not http://HOST:PORT" },
	{ SVC4 AN "        - name: a\n          max: 1\n"
		  "          prometheus: { address: \"http://h:9090/?x=1\", query: up }\n",
	  7, "is not http://HOST:PORT" },
	{ SVC4 AN "        - name: a\n          max: 1\n"
		  "          prometheus: { address: \"http://[fd00::1:9090\", query: up }\n",
	  7, "is not http://HOST:PORT" },
	{ SVC4 AN "        - name: a\n          max: 1\n"
		  "          prometheus: { address: \"http://h:1\", query: \"x[{{windw}}]\" }\n",
	  7, "query: unknown placeholder at '{{windw}}]'" },
	{ SVC4 AN "        - name: a\n" PROM "          max: 1\n          min: 2\n", 8,
	  "min (2) is above max (1)" },
	{ SVC4 AN "        - name: a\n" PROM "          max: 1e-3\n", 7,
	  "max: '1e-3' is not a plain decimal number" },
	{ SVC4 AN "        - name: a\n" PROM "          min: .nan\n", 7,
	  "min: '.nan' is not a plain decimal number" },
	{ SVC4 AN "        - name: a\n" PROM "          max: --1\n", 7, "not a plain decimal" },
	{ SVC4 AN "        - name: a\n" PROM "          max: 1\n          interval: 1s\n"
		  "          timeout: 1.5s\n",
	  9, "timeout (1500ms) must not be longer than interval (1000ms)" },
	{ SVC4 AN "        - name: a\n" PROM "          max: 1\n          interval: 50ms\n", 8,
	  "interval: must be at least 100ms" },
	{ SVC4 AN "        - name: a\n" PROM "          max: 1\n          window: 0s\n", 8,
	  "window: must be longer than 0" },
	{ SVC4 AN "        - name: a\n" PROM "          max: 1\n          failure_limit: 0\n", 8,
	  "0 is out of range 1..100" },
	{ SVC4 AN "        - name: a\n" PROM
		  "          max: 1\n          inconclusive_limit: 1001\n",
	  8, "1001 is out of range 1..1000" },
	{ SVC4 AN "        - name: a\n" PROM "          max: 1\n          compare: green\n", 8,
	  "compare: 'green' is not one of blue" },
	{ SVC4 AN "        - name: a\n" PROM "          max_ratio_to_blue: 0.5\n", 7,
	  "not a decimal number from 1 to 100" },
	{ SVC4 AN "        - name: a\n" PROM "          max: 1\n"
		  "        - name: a\n" PROM "          max: 2\n",
	  8, "analysis check a is listed twice (first on line 5)" },
	{ SVC4 AN AN_C(1) AN_C(2) AN_C(3) AN_C(4) AN_C(5) AN_C(6) AN_C(7) AN_C(8) AN_C(9) AN_C(10)
		  AN_C(11) AN_C(12) AN_C(13) AN_C(14) AN_C(15) AN_C(16) AN_C(17),
	  21, "analysis: more than 16 checks" },
	{ SVC4 AN "        - name: a\n          max: 1\n" WEB "            method: GET\n", 8,
	  "web: missing required key 'url'" },
	{ SVC4 AN "        - name: a\n          max: 1\n" WEB "            url: ftp://h:21/x\n", 8,
	  "url: 'ftp://h:21/x' is not http://HOST:PORT/PATH" },
	{ SVC4 AN "        - name: a\n          max: 1\n" WEB "            url: http://h:80/a b\n",
	  8, "is not http://HOST:PORT/PATH" },
	{ SVC4 AN "        - name: a\n          max: 1\n" WEB
		  "            url: \"http://{{pool}}:80/\"\n",
	  8, "is not http://HOST:PORT/PATH" },
	{ SVC4 AN "        - name: a\n          max: 1\n" WEB
		  "            url: \"http://h:80/{{pol}}\"\n",
	  8, "url: unknown placeholder at '{{pol}}'" },
	{ SVC4 AN "        - name: a\n          max: 1\n" WEB "            url: http://h:80/\n"
		  "            method: PUT\n",
	  9, "method: 'PUT' is not one of GET|POST" },
	{ SVC4 AN "        - name: a\n          max: 1\n" WEB "            url: http://h:80/\n"
		  "            body: x\n",
	  9, "body: only a POST sends one" },
	{ SVC4 AN "        - name: a\n          max: 1\n" WEB "            url: http://h:80/\n"
		  "            method: POST\n            body: '{{x}}'\n",
	  10, "body: unknown placeholder" },
	{ SVC4 AN "        - name: a\n          max: 1\n" WEB "            url: http://h:80/\n"
		  "            field: verdict..score\n",
	  9, "field: 'verdict..score' is not a dotted path" },
	{ SVC4 AN "        - name: a\n          max: 1\n" WEB "            url: http://h:80/\n"
		  "            field: a[0]\n",
	  9, "is not a dotted path" },
};

static void judgement_keys_are_read(void **state)
{
	static const char yaml[] = SVC4 ROLL "      confidence: 99.5\n"
					     "      max_step_extension: 30s\n"
					     "      handshake_timeout: 10s\n";
	struct zdd_conf *c;
	char err[256];

	(void)state;
	assert_int_equal(zdd_conf_parse("j.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), 0);
	assert_int_equal(c->services[0].rollout.confidence_bp, 9950);
	assert_int_equal(c->services[0].rollout.max_extension_ms, 30000);
	assert_int_equal(c->services[0].rollout.handshake_timeout_ms, 10000);
	zdd_conf_free(c);
}

static void cluster_keys_are_read(void **state)
{
	static const char yaml[] =
		"agent:\n"
		"  cluster:\n"
		"    endpoints: ['http://198.18.5.1:2379', 'http://[fd00:5::2]:2379']\n"
		"    prefix: /shop/zdd/\n"
		"    node: edge-1\n"
		"    lease_ttl: 5s\n"
		"services: []\n";
	static const char none[] = "services: []\n";
	/* the files' contents are etcd's client's to check: any readable file parses */
	static const char tls[] = "agent:\n"
				  "  cluster:\n"
				  "    endpoints: ['https://198.18.5.1:2379']\n"
				  "    ca: /etc/passwd\n"
				  "    cert: /etc/hostname\n"
				  "    key: /etc/passwd\n"
				  "services: []\n";
	struct zdd_conf *c;
	char err[256];

	(void)state;
	assert_int_equal(zdd_conf_parse("k.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), 0);
	assert_true(c->agent.cluster.present);
	assert_int_equal(c->agent.cluster.n_endpoints, 2);
	assert_string_equal(c->agent.cluster.endpoints[1], "http://[fd00:5::2]:2379");
	assert_string_equal(c->agent.cluster.prefix, "/shop/zdd/");
	assert_string_equal(c->agent.cluster.node, "edge-1");
	assert_int_equal(c->agent.cluster.lease_ttl_ms, 5000);
	assert_string_equal(c->agent.cluster.ca, ""); /* http: no TLS */
	zdd_conf_free(c);
	assert_int_equal(zdd_conf_parse("t.yaml", tls, strlen(tls), &c, err, sizeof(err)), 0);
	assert_string_equal(c->agent.cluster.endpoints[0], "https://198.18.5.1:2379");
	assert_string_equal(c->agent.cluster.ca, "/etc/passwd");
	assert_string_equal(c->agent.cluster.cert, "/etc/hostname");
	assert_string_equal(c->agent.cluster.key, "/etc/passwd");
	zdd_conf_free(c);
	assert_int_equal(zdd_conf_parse("n.yaml", none, strlen(none), &c, err, sizeof(err)), 0);
	assert_false(c->agent.cluster.present); /* without it, the agent runs alone */
	assert_string_equal(c->agent.cluster.prefix, "/zdd/");
	assert_int_equal(c->agent.cluster.lease_ttl_ms, 3000);
	zdd_conf_free(c);
}

/* Every key of rollout.analysis, both kinds, and the defaults. */
static void analysis_checks_are_read(void **state)
{
	static const char yaml[] = SVC4 AN
		"        - name: http_5xx_ratio\n" /* 5 */
		"          prometheus:\n"
		"            address: http://198.18.4.1:9090\n"
		"            query: 'sum(rate(x{service=\"{{service}}\",pool=\"{{pool}}\"}"
		"[{{window}}]))'\n"
		"          window: 10s\n"
		"          interval: 2s\n" /* 10 */
		"          timeout: 800ms\n"
		"          max: 0.05\n"
		"          min: -1.5\n"
		"          max_ratio_to_blue: 2.5\n"
		"          failure_limit: 1\n" /* 15 */
		"          inconclusive_limit: 1000\n"
		"        - name: judge\n"
		"          web:\n"
		"            url: http://[fd00::1]:8080/verdict?svc={{service}}\n"
		"            method: POST\n" /* 20 */
		"            body: '{\"release\": \"{{service}}\"}'\n"
		"            field: verdict.0.score\n"
		"          min: 1\n"
		"          compare: blue\n"
		"        - name: P99_ms\n" /* 25 */
		"          prometheus: { address: \"http://prom.example:9090/prom/\",\n"
		"                        query: \"vector(1)\" }\n"
		"          interval: 30s\n"
		"          max: 250\n";
	const struct zdd_conf_analysis *a;
	struct zdd_conf *c;
	char err[256];

	(void)state;
	assert_int_equal(zdd_conf_parse("a.yaml", yaml, strlen(yaml), &c, err, sizeof(err)), 0);
	assert_int_equal(c->services[0].rollout.n_analysis, 3);
	a = &c->services[0].rollout.analysis[0];
	assert_string_equal(a->name, "http_5xx_ratio");
	assert_int_equal(a->kind, ZDD_AN_PROMETHEUS);
	assert_string_equal(a->address, "http://198.18.4.1:9090");
	assert_string_equal(a->query, "sum(rate(x{service=\"{{service}}\",pool=\"{{pool}}\"}"
				      "[{{window}}]))");
	assert_int_equal(a->window_ms, 10000);
	assert_int_equal(a->interval_ms, 2000);
	assert_int_equal(a->timeout_ms, 800);
	assert_true(a->has_max && a->max == 0.05);
	assert_true(a->has_min && a->min == -1.5);
	assert_true(a->has_ratio && a->max_ratio_to_blue == 2.5);
	assert_true(a->compare_blue);
	assert_int_equal(a->failure_limit, 1);
	assert_int_equal(a->inconclusive_limit, 1000);
	assert_int_equal(a->line, 5);

	a++;
	assert_string_equal(a->name, "judge");
	assert_int_equal(a->kind, ZDD_AN_WEB);
	assert_string_equal(a->url, "http://[fd00::1]:8080/verdict?svc={{service}}");
	assert_string_equal(a->method, "POST");
	assert_string_equal(a->body, "{\"release\": \"{{service}}\"}");
	assert_string_equal(a->field, "verdict.0.score");
	assert_false(a->has_max || a->has_ratio);
	assert_true(a->has_min && a->min == 1.0);
	assert_true(a->compare_blue);
	/* The defaults: window 30s, interval 1s, timeout the interval, limits 2 and 3. */
	assert_int_equal(a->window_ms, 30000);
	assert_int_equal(a->interval_ms, 1000);
	assert_int_equal(a->timeout_ms, 1000);
	assert_int_equal(a->failure_limit, 2);
	assert_int_equal(a->inconclusive_limit, 3);
	assert_int_equal(a->line, 17);

	a++;
	assert_string_equal(a->name, "P99_ms");
	assert_string_equal(a->address, "http://prom.example:9090/prom/");
	assert_string_equal(a->field, "");
	assert_int_equal(a->timeout_ms, 10000); /* the interval, at most 10s */
	assert_false(a->compare_blue || a->has_min || a->has_ratio);
	assert_true(a->has_max && a->max == 250.0);
	zdd_conf_free(c);
}

static void bad_files_are_rejected(void **state)
{
	char err[512], want[64];
	struct zdd_conf *c;
	size_t i, failed = 0;
	int rc;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *t = &bad_cases[i];

		c = (struct zdd_conf *)&c; /* must come back NULL */
		rc = zdd_conf_parse("bad.yaml", t->yaml, strlen(t->yaml), &c, err, sizeof(err));
		if (t->line)
			snprintf(want, sizeof(want), "bad.yaml:%d: ", t->line);
		else
			snprintf(want, sizeof(want), "bad.yaml: ");
		if (rc != -EINVAL || c || strncmp(err, want, strlen(want)) ||
		    !strstr(err, t->reason)) {
			print_error("case %zu: rc %d, got \"%s\", want \"%s...%s\"\n", i, rc, err,
				    want, t->reason);
			failed++;
			if (!rc)
				zdd_conf_free(c);
		}
	}
	assert_int_equal(failed, 0);
	assert_true(ARRAY_SIZE(bad_cases) >= 20);
}

static void percent_parse_table(void **state)
{
	static const struct {
		const char *s;
		int bp; /* -1: rejected */
	} t[] = {
		{ "0", 0 },	   { "100", 10000 },  { "12.5", 1250 },	   { "0.01", 1 },
		{ "33.33", 3333 }, { "99.99", 9999 }, { "100.00", 10000 }, { "5", 500 },
		{ "1.10", 110 },   { "0.5", 50 },     { "", -1 },	   { "100.01", -1 },
		{ "101", -1 },	   { "-1", -1 },      { "+1", -1 },	   { "12.345", -1 },
		{ ".5", -1 },	   { "5.", -1 },      { "1e2", -1 },	   { " 5", -1 },
		{ "5 ", -1 },	   { "05", -1 },      { "0x10", -1 },	   { "abc", -1 },
		{ "12.5%", -1 },   { "1,5", -1 },     { "nan", -1 },	   { "65536", -1 },
	};
	size_t i;
	__u16 bp;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(t); i++) {
		bp = 0xbeef;
		if (t[i].bp < 0) {
			if (zdd_percent_parse(t[i].s, &bp) != -EINVAL)
				fail_msg("\"%s\" accepted as %u", t[i].s, bp);
			continue;
		}
		if (zdd_percent_parse(t[i].s, &bp) || bp != t[i].bp)
			fail_msg("\"%s\": got %u, want %d", t[i].s, bp, t[i].bp);
	}
	assert_int_equal(zdd_percent_parse(NULL, &bp), -EINVAL);
}

static void duration_parse_table(void **state)
{
	static const struct {
		const char *s;
		long long ms; /* -1: rejected */
	} t[] = {
		{ "500ms", 500 },
		{ "1.5s", 1500 },
		{ "2m", 120000 },
		{ "3", 3000 },
		{ "0", 0 },
		{ "0ms", 0 },
		{ "0.5", 500 },
		{ "10s", 10000 },
		{ "1.25m", 75000 },
		{ "0.001s", 1 },
		{ "0.0001m", 6 },
		{ "4294967295ms", 4294967295LL },
		{ "4294967.295s", 4294967295LL },
		{ "71582m", 4294920000LL },
		{ "", -1 },
		{ "ms", -1 },
		{ "s", -1 },
		{ "1.5ms", -1 },
		{ "0.0001s", -1 },
		{ "1x", -1 },
		{ "1 s", -1 },
		{ "1S", -1 },
		{ "1h", -1 },
		{ "-1s", -1 },
		{ "4294967296ms", -1 },
		{ "71583m", -1 },
		{ "1.s", -1 },
		{ ".5s", -1 },
		{ "1e3ms", -1 },
		{ "01s", -1 },
		{ "1sec", -1 },
		{ "9999999999999ms", -1 },
		{ "1.0000000001s", -1 },
		{ "1s ", -1 },
	};
	size_t i;
	__u32 ms;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(t); i++) {
		ms = 0xdeadbeef;
		if (t[i].ms < 0) {
			if (zdd_duration_parse(t[i].s, &ms) != -EINVAL)
				fail_msg("\"%s\" accepted as %u", t[i].s, ms);
			continue;
		}
		if (zdd_duration_parse(t[i].s, &ms) || ms != t[i].ms)
			fail_msg("\"%s\": got %u, want %lld", t[i].s, ms, t[i].ms);
	}
	assert_int_equal(zdd_duration_parse(NULL, &ms), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_file_round_trips),
		cmocka_unit_test(minimal_files_get_defaults),
		cmocka_unit_test(judgement_keys_are_read),
		cmocka_unit_test(cluster_keys_are_read),
		cmocka_unit_test(analysis_checks_are_read),
		cmocka_unit_test(example_file_loads),
		cmocka_unit_test(load_reports_file_errors),
		cmocka_unit_test(error_buffer_is_bounded),
		cmocka_unit_test(truncated_files_fail_cleanly),
		cmocka_unit_test(bad_files_are_rejected),
		cmocka_unit_test(percent_parse_table),
		cmocka_unit_test(duration_parse_table),
	};

	/* Non-zero (the number of failures) when any case fails. */
	return cmocka_run_group_tests_name("conffile", tests, NULL, NULL) ? 1 : 0;
}
