// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_metrics.c - /metrics: the text rendered from real counters (packets pushed
 * through the real program), checked line by line and by promtool, and the HTTP server. */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include "addr.h"
#include "fixture.h"
#include "metrics.h"
#include "rollout.h"

#define CT "text/plain; version=0.0.4; charset=utf-8"

/* The interface of DESIGN.md section 6: exactly these families, nothing else. */
static const char *const families[] = {
	"zdd_backend_packets_total",
	"zdd_backend_bytes_total",
	"zdd_backend_flows_new_total",
	"zdd_backend_flows_established_total",
	"zdd_backend_syn_retransmits_total",
	"zdd_backend_client_resets_total",
	"zdd_backend_up",
	"zdd_service_weight",
	"zdd_service_conntrack_misses_total",
	"zdd_service_adopted_flows_total",
	"zdd_service_promoted_flows_total",
	"zdd_rollout_step",
	"zdd_rollout_state",
	"zdd_rollbacks_total",
	"zdd_verdicts_total",
	"zdd_conntrack_entries",
	/* only where a rollout has application checks, or from the agent itself */
	"zdd_analysis_value",
	"zdd_analysis_evaluations_total",
	"zdd_agent_ticks_total",
	"zdd_agent_ticks_late_total",
	"zdd_next_hop_changes_total",
	/* only where the agent runs health checks */
	"zdd_backend_check_up",
	/* only from an agent in a fleet */
	"zdd_cluster_connected",
	"zdd_cluster_is_leader",
	"zdd_cluster_applied_generation",
	"zdd_cluster_apply_delay_ms",
};
#define N_FAMILIES	  (sizeof(families) / sizeof(families[0]))
#define N_FAMILIES_ALWAYS (N_FAMILIES - 10)

#define B4(svc, pool, be) "{service=\"" svc "\",pool=\"" pool "\",backend=\"" be "\"}"
#define BLUE4		  B4(SVC4, "blue", "198.18.3.11")
#define GREEN4		  B4(SVC4, "green", "198.18.3.21")
#define BLUE6		  B4(SVC6, "blue", "fd00:3::11")
#define GREEN6		  B4(SVC6, "green", "fd00:3::21")

static char *render(struct fixture *f, const struct zdd_metrics_view *v)
{
	char *buf = NULL;
	size_t len = 0;

	assert_int_equal(zdd_metrics_render(f->z, v, &buf, &len), 0);
	assert_non_null(buf);
	assert_int_equal(strlen(buf), len);
	assert_true(len > 0 && buf[len - 1] == '\n');
	return buf;
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p;

	for (p = strstr(text, line); p; p = strstr(p + 1, line))
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void assert_line(const char *text, const char *line)
{
	if (has_line(text, line))
		return;
	fprintf(stderr, "--- rendered:\n%s---\n", text);
	fail_msg("missing line: %s", line);
}

static void assert_linef(const char *text, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void assert_linef(const char *text, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	assert_line(text, line);
}

static void counters_come_from_real_packets(void **state)
{
	struct fixture *f = *state;
	struct pkt syn = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_SYN);
	struct pkt ack = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_ACK);
	struct pkt rst = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_RST | TH_ACK);
	struct pkt miss = pkt_tcp("198.18.1.3", 40009, VIP4, 80, TH_ACK);
	struct pkt syn6 = pkt_tcp("fd00:1::2", 40001, VIP6, 80, TH_SYN);
	struct pkt other = pkt_tcp("198.18.1.2", 40001, "198.19.0.99", 80, TH_SYN);
	char *t;

	/* green weight 0: every new flow goes to blue */
	assert_int_equal(run(f, &syn), XDP_TX);
	assert_int_equal(run(f, &syn), XDP_TX); /* a retransmit: the backend did not answer */
	assert_int_equal(run(f, &ack), XDP_TX);
	assert_int_equal(run(f, &rst), XDP_TX);
	assert_int_equal(run(f, &miss), XDP_TX);
	assert_int_equal(run(f, &syn6), XDP_TX);
	assert_int_equal(run(f, &other), XDP_PASS);
	t = render(f, NULL);

	assert_line(t, "zdd_backend_flows_new_total" BLUE4 " 1");
	assert_line(t, "zdd_backend_flows_new_total" GREEN4 " 0");
	assert_line(t, "zdd_backend_syn_retransmits_total" BLUE4 " 1");
	assert_line(t, "zdd_backend_flows_established_total" BLUE4 " 1");
	assert_line(t, "zdd_backend_client_resets_total" BLUE4 " 1");
	assert_line(t, "zdd_backend_packets_total" BLUE4 " 5");
	assert_linef(t, "zdd_backend_bytes_total" BLUE4 " %u",
		     2 * (syn.len - 14) + (ack.len - 14) + (rst.len - 14) + (miss.len - 14));
	assert_line(t, "zdd_backend_packets_total" GREEN4 " 0");
	assert_line(t, "zdd_backend_flows_new_total" BLUE6 " 1");
	assert_linef(t, "zdd_backend_bytes_total" BLUE6 " %u", syn6.len - 14);
	assert_line(t, "zdd_backend_flows_established_total" BLUE6 " 0");
	assert_line(t, "zdd_service_conntrack_misses_total{service=\"" SVC4 "\"} 1");
	assert_line(t, "zdd_service_conntrack_misses_total{service=\"" SVC6 "\"} 0");
	assert_line(t, "zdd_service_adopted_flows_total{service=\"" SVC4 "\"} 1");
	assert_line(t, "zdd_service_promoted_flows_total{service=\"" SVC4 "\"} 0");

	assert_line(t, "zdd_verdicts_total{reason=\"tx_new\"} 2");
	assert_line(t, "zdd_verdicts_total{reason=\"tx_flow\"} 3");
	assert_line(t, "zdd_verdicts_total{reason=\"tx_conntrack_miss\"} 1");
	assert_line(t, "zdd_verdicts_total{reason=\"pass_no_service\"} 1");
	assert_line(t, "zdd_verdicts_total{reason=\"drop_encap_failed\"} 0");
	/* the v6 SYN is embryonic; the v4 flow is established, the miss adopted */
	assert_line(t, "zdd_conntrack_entries{table=\"embryonic\"} 1");
	assert_line(t, "zdd_conntrack_entries{table=\"established\"} 1");
	assert_line(t, "zdd_conntrack_entries{table=\"adopted\"} 1");

	/* no view: every backend by its map state, no rollout */
	assert_line(t, "zdd_backend_up" BLUE4 " 1");
	assert_line(t, "zdd_backend_up" GREEN6 " 1");
	assert_line(t, "zdd_rollout_step{service=\"" SVC4 "\"} 0");
	assert_line(t, "zdd_rollout_state{service=\"" SVC4 "\",state=\"idle\"} 1");
	assert_line(t, "zdd_rollout_state{service=\"" SVC4 "\",state=\"running\"} 0");
	assert_line(t, "zdd_rollbacks_total{service=\"" SVC6 "\",reason=\"handshakes\"} 0");
	free(t);
}

static void every_verdict_reason_is_listed(void **state)
{
	struct fixture *f = *state;
	char *t = render(f, NULL);
	int r;

	for (r = 0; r < ZDD_R_MAX; r++)
		assert_linef(t, "zdd_verdicts_total{reason=\"%s\"} 0", zdd_reason_name(r));
	free(t);
}

static void weights_are_percent_of_new_clients(void **state)
{
	struct fixture *f = *state;
	char *t;

	set_green(f, SVC4, 1250);
	set_green(f, SVC6, 1);
	t = render(f, NULL);
	assert_line(t, "zdd_service_weight{service=\"" SVC4 "\",pool=\"green\"} 12.5");
	assert_line(t, "zdd_service_weight{service=\"" SVC4 "\",pool=\"blue\"} 87.5");
	assert_line(t, "zdd_service_weight{service=\"" SVC6 "\",pool=\"green\"} 0.01");
	assert_line(t, "zdd_service_weight{service=\"" SVC6 "\",pool=\"blue\"} 99.99");
	free(t);

	set_green(f, SVC4, 10000);
	set_green(f, SVC6, 0);
	t = render(f, NULL);
	assert_line(t, "zdd_service_weight{service=\"" SVC4 "\",pool=\"green\"} 100");
	assert_line(t, "zdd_service_weight{service=\"" SVC4 "\",pool=\"blue\"} 0");
	assert_line(t, "zdd_service_weight{service=\"" SVC6 "\",pool=\"green\"} 0");
	assert_line(t, "zdd_service_weight{service=\"" SVC6 "\",pool=\"blue\"} 100");
	free(t);
}

static void view_gives_rollout_and_health(void **state)
{
	struct fixture *f = *state;
	struct zdd_metrics_rollout r = {
		.svc = svc_key(SVC4),
		.step = 3,
		.state = "running",
		.rollbacks = { { "handshakes", 2 }, { "http_5xx_ratio", 1 } },
		.checks = { { .name = "http_5xx_ratio",
			      .has_value = { false, true },
			      .value = { 0, 0.25 },
			      .evaluations = { 7, 2, 1 } } },
		.n_checks = 1,
	};
	struct zdd_metrics_health h[2] = {
		{ .svc = svc_key(SVC4), .up = 0, .check = { ZDD_HEALTH_UP, ZDD_HEALTH_DOWN } },
		{ .svc = svc_key(SVC4), .up = 1, .check = { ZDD_HEALTH_UP } },
	};
	struct zdd_metrics_view v = { .rollouts = &r,
				      .n_rollouts = 1,
				      .health = h,
				      .n_health = 2,
				      .agent = true,
				      .ticks = 42,
				      .ticks_late = 1,
				      .next_hop_changes = 3 };
	size_t i;
	char *t;

	assert_int_equal(zdd_addr_parse("198.18.3.11", h[0].addr), 0);
	assert_int_equal(zdd_addr_parse("198.18.3.21", h[1].addr), 0);
	/* a check's verdict wins over the map state, both ways */
	set_state(f, SVC4, "198.18.3.21", ZDD_BE_DRAIN);
	set_state(f, SVC6, "fd00:3::21", ZDD_BE_DOWN);
	t = render(f, &v);
	assert_line(t, "zdd_rollout_step{service=\"" SVC4 "\"} 3");
	assert_line(t, "zdd_rollout_step{service=\"" SVC6 "\"} 0");
	for (i = 0; zdd_rollout_states[i]; i++) {
		assert_linef(t, "zdd_rollout_state{service=\"" SVC4 "\",state=\"%s\"} %d",
			     zdd_rollout_states[i], !strcmp(zdd_rollout_states[i], "running"));
		assert_linef(t, "zdd_rollout_state{service=\"" SVC6 "\",state=\"%s\"} %d",
			     zdd_rollout_states[i], !strcmp(zdd_rollout_states[i], "idle"));
	}
	assert_int_equal(i, 6);
	assert_line(t, "zdd_agent_ticks_total 42");
	assert_line(t, "zdd_agent_ticks_late_total 1");
	assert_line(t, "zdd_next_hop_changes_total 3");
	assert_line(t, "zdd_rollbacks_total{service=\"" SVC4 "\",reason=\"handshakes\"} 2");
	assert_line(t, "zdd_rollbacks_total{service=\"" SVC4 "\",reason=\"health_check\"} 0");
	assert_line(t, "zdd_rollbacks_total{service=\"" SVC4 "\",reason=\"http_5xx_ratio\"} 1");
	assert_line(t, "zdd_rollbacks_total{service=\"" SVC6 "\",reason=\"handshakes\"} 0");
	assert_line(t, "zdd_rollbacks_total{service=\"" SVC6 "\",reason=\"pre_step_hook\"} 0");
	assert_line(t, "zdd_analysis_value{service=\"" SVC4
		       "\",check=\"http_5xx_ratio\",pool=\"green\"} 0.25");
	assert_null(strstr(t, "zdd_analysis_value{service=\"" SVC4
			      "\",check=\"http_5xx_ratio\",pool=\"blue\"}"));
	assert_line(t, "zdd_analysis_evaluations_total{service=\"" SVC4
		       "\",check=\"http_5xx_ratio\",result=\"pass\"} 7");
	assert_line(t, "zdd_analysis_evaluations_total{service=\"" SVC4
		       "\",check=\"http_5xx_ratio\",result=\"inconclusive\"} 1");
	assert_line(t, "zdd_backend_up" BLUE4 " 0");
	assert_line(t, "zdd_backend_up" GREEN4 " 1");
	assert_line(t, "zdd_backend_up" BLUE6 " 1");
	assert_line(t, "zdd_backend_up" GREEN6 " 0");
	assert_null(strstr(t, "zdd_cluster_")); /* alone: no fleet families */
	/* which check took a backend down; none for a check not run */
	assert_line(t, "zdd_backend_check_up{service=\"" SVC4
		       "\",pool=\"blue\",backend=\"198.18.3.11\",check=\"direct\"} 1");
	assert_line(t, "zdd_backend_check_up{service=\"" SVC4
		       "\",pool=\"blue\",backend=\"198.18.3.11\",check=\"tunnel\"} 0");
	assert_line(t, "zdd_backend_check_up{service=\"" SVC4
		       "\",pool=\"green\",backend=\"198.18.3.21\",check=\"direct\"} 1");
	assert_null(strstr(t, "backend=\"198.18.3.21\",check=\"tunnel\""));
	free(t);
}

/* An agent in a fleet says whether it hears etcd, whether it leads, what it applied. */
static void fleet_node_says_where_it_stands(void **state)
{
	struct fixture *f = *state;
	struct zdd_metrics_rollout r = {
		.svc = svc_key(SVC4), .step = 1, .state = "running", .fleet_generation = 12
	};
	struct zdd_metrics_view v = { .rollouts = &r,
				      .n_rollouts = 1,
				      .agent = true,
				      .cluster = { .on = true,
						   .connected = false,
						   .leader = false,
						   .delay_p50_ms = 23,
						   .delay_max_ms = 180 } };
	char *t = render(f, &v);

	assert_line(t, "zdd_cluster_connected 0");
	assert_line(t, "zdd_cluster_is_leader 0");
	assert_line(t, "zdd_cluster_applied_generation{service=\"" SVC4 "\"} 12");
	assert_line(t, "zdd_cluster_applied_generation{service=\"" SVC6 "\"} 0");
	assert_line(t, "zdd_cluster_apply_delay_ms{stat=\"p50\"} 23");
	assert_line(t, "zdd_cluster_apply_delay_ms{stat=\"max\"} 180");
	free(t);
}

static void unknown_rollout_state_is_rejected(void **state)
{
	struct fixture *f = *state;
	struct zdd_metrics_rollout r = { .svc = svc_key(SVC4), .step = 1, .state = "sleeping" };
	struct zdd_metrics_view v = { .rollouts = &r, .n_rollouts = 1 };
	char *buf = NULL;
	size_t len = 0;

	assert_int_equal(zdd_metrics_render(f->z, &v, &buf, &len), -EINVAL);
	r.state = NULL;
	assert_int_equal(zdd_metrics_render(f->z, &v, &buf, &len), -EINVAL);
	assert_null(buf);
}

static int family_index(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < N_FAMILIES; i++)
		if (strlen(families[i]) == n && !strncmp(families[i], name, n))
			return (int)i;
	return -1;
}

/* Each family: HELP, TYPE, then its samples, once; exactly the families of the design. */
static void families_are_whole_and_only_the_designed_ones(void **state)
{
	struct fixture *f = *state;
	int seen[N_FAMILIES] = {}, samples[N_FAMILIES] = {}, cur = -1, i;
	char *t = render(f, NULL), *line, *save = NULL;
	size_t n;

	for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "# HELP ", 7)) {
			n = strcspn(line + 7, " ");
			cur = family_index(line + 7, n);
			if (cur < 0)
				fail_msg("family not in the design: %s", line);
			assert_int_equal(seen[cur]++, 0);
		} else if (!strncmp(line, "# TYPE ", 7)) {
			assert_true(cur >= 0);
			n = strlen(families[cur]);
			assert_true(!strncmp(line + 7, families[cur], n) && line[7 + n] == ' ');
			assert_true(!strcmp(line + 8 + n, "counter") ||
				    !strcmp(line + 8 + n, "gauge"));
			assert_int_equal(!strcmp(line + 8 + n, "counter"),
					 strstr(families[cur], "_total") != NULL);
		} else {
			n = strcspn(line, "{ ");
			i = family_index(line, n);
			if (i != cur)
				fail_msg("sample outside its family: %s", line);
			samples[cur]++;
		}
	}
	for (i = 0; i < (int)N_FAMILIES; i++) {
		if (i >= (int)N_FAMILIES_ALWAYS && !seen[i] && !samples[i])
			continue;
		if (seen[i] != 1 || samples[i] == 0)
			fail_msg("%s: %d HELP lines, %d samples", families[i], seen[i], samples[i]);
	}
	free(t);
}

static void promtool_accepts_the_text(void **state)
{
	struct fixture *f = *state;
	struct zdd_metrics_rollout r = { .svc = svc_key(SVC6), .step = 2, .state = "paused" };
	struct zdd_metrics_view v = { .rollouts = &r, .n_rollouts = 1 };
	struct pkt syn = pkt_tcp("198.18.1.2", 40001, VIP4, 80, TH_SYN);
	char *t;
	FILE *p;
	int st;

	set_green(f, SVC4, 3333);
	assert_int_equal(run(f, &syn), XDP_TX);
	t = render(f, &v);
	/* A missing promtool fails (sh exits 127): CI installs it, skipping would hide that. */
	p = popen("exec promtool check metrics", "w");
	assert_non_null(p);
	fputs(t, p);
	st = pclose(p);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "--- rendered:\n%s---\n", t);
		fail_msg("promtool check metrics: status %d%s", WEXITSTATUS(st),
			 WEXITSTATUS(st) == 127 ? " (promtool missing: apt-get install prometheus)"
						: "");
	}
	free(t);
}

/* --- the server ---------------------------------------------------------------------------- */

struct http_reply {
	int status;
	char *raw;
	const char *body;
};

static const char *header(const struct http_reply *r, const char *name)
{
	static char value[256];
	size_t n = strlen(name);
	const char *p, *end;

	for (p = strstr(r->raw, "\r\n"); p && p + 2 < r->body; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, n) || p[2 + n] != ':')
			continue;
		p += 3 + n;
		p += strspn(p, " ");
		end = strstr(p, "\r\n");
		snprintf(value, sizeof(value), "%.*s", (int)(end - p), p);
		return value;
	}
	return NULL;
}

/* One HTTP/1.0 exchange on a plain socket; the server closes the connection when done. */
static struct http_reply http(int family, unsigned short port, const char *request)
{
	struct timeval tv = { .tv_sec = 5 };
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct http_reply r = {};
	size_t len = 0, cap = 4096;
	ssize_t n;
	int fd;

	a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a6.sin6_addr = in6addr_loopback;
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	if (family == AF_INET6)
		assert_int_equal(connect(fd, (struct sockaddr *)&a6, sizeof(a6)), 0);
	else
		assert_int_equal(connect(fd, (struct sockaddr *)&a4, sizeof(a4)), 0);
	assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
	r.raw = malloc(cap);
	assert_non_null(r.raw);
	while ((n = read(fd, r.raw + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 1024) {
			cap *= 2;
			r.raw = realloc(r.raw, cap);
			assert_non_null(r.raw);
		}
	}
	close(fd);
	assert_int_equal(n, 0); /* EOF, not the timeout */
	r.raw[len] = '\0';
	assert_int_equal(sscanf(r.raw, "HTTP/1.%*d %d", &r.status), 1);
	r.body = strstr(r.raw, "\r\n\r\n");
	assert_non_null(r.body);
	r.body += 4;
	return r;
}

struct canned {
	int err;
	int calls;
	const char *text;
};

static int canned_metrics(void *ctx, char **buf, size_t *len)
{
	struct canned *c = ctx;

	c->calls++;
	if (c->err)
		return c->err;
	*buf = strdup(c->text);
	if (!*buf)
		return -ENOMEM;
	*len = strlen(c->text);
	return 0;
}

static void server_answers_get_metrics(void **state)
{
	struct canned c = { .text = "# HELP x_total A.\n# TYPE x_total counter\nx_total 7\n" };
	struct zdd_metrics_server *s = NULL;
	struct http_reply r;

	(void)state;
	assert_int_equal(zdd_metrics_serve(&s, "127.0.0.1:0", canned_metrics, &c), 0);
	assert_non_null(s);
	assert_int_not_equal(zdd_metrics_port(s), 0);
	r = http(AF_INET, zdd_metrics_port(s), "GET /metrics HTTP/1.0\r\n\r\n");
	assert_int_equal(r.status, 200);
	assert_non_null(header(&r, "Content-Type"));
	assert_string_equal(header(&r, "Content-Type"), CT);
	assert_string_equal(r.body, c.text);
	assert_int_equal(c.calls, 1);
	free(r.raw);

	r = http(AF_INET, zdd_metrics_port(s), "GET /metrics?x=1 HTTP/1.0\r\n\r\n");
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, c.text);
	free(r.raw);
	zdd_metrics_stop(s);
	assert_int_equal(c.calls, 2);
}

static void server_errors_by_path_method_and_callback(void **state)
{
	struct canned c = { .text = "x 1\n" };
	struct zdd_metrics_server *s = NULL;
	struct http_reply r;
	unsigned short port;

	(void)state;
	assert_int_equal(zdd_metrics_serve(&s, "127.0.0.1:0", canned_metrics, &c), 0);
	port = zdd_metrics_port(s);
	r = http(AF_INET, port, "GET /other HTTP/1.0\r\n\r\n");
	assert_int_equal(r.status, 404);
	free(r.raw);
	r = http(AF_INET, port, "GET / HTTP/1.0\r\n\r\n");
	assert_int_equal(r.status, 404);
	free(r.raw);
	r = http(AF_INET, port, "POST /metrics HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello");
	assert_int_equal(r.status, 405);
	assert_non_null(header(&r, "Allow"));
	assert_string_equal(header(&r, "Allow"), "GET");
	free(r.raw);
	r = http(AF_INET, port, "DELETE /metrics HTTP/1.0\r\n\r\n");
	assert_int_equal(r.status, 405);
	free(r.raw);
	assert_int_equal(c.calls, 0);
	c.err = -EIO;
	r = http(AF_INET, port, "GET /metrics HTTP/1.0\r\n\r\n");
	assert_int_equal(r.status, 500);
	assert_int_equal(c.calls, 1);
	free(r.raw);
	c.err = 0; /* and it recovers */
	r = http(AF_INET, port, "GET /metrics HTTP/1.0\r\n\r\n");
	assert_int_equal(r.status, 200);
	free(r.raw);
	zdd_metrics_stop(s);
}

static void server_listens_on_ipv6(void **state)
{
	struct canned c = { .text = "x 1\n" };
	struct zdd_metrics_server *s = NULL;
	struct http_reply r;

	(void)state;
	assert_int_equal(zdd_metrics_serve(&s, "[::1]:0", canned_metrics, &c), 0);
	r = http(AF_INET6, zdd_metrics_port(s), "GET /metrics HTTP/1.0\r\n\r\n");
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, c.text);
	free(r.raw);
	zdd_metrics_stop(s);
}

static void server_rejects_bad_listen(void **state)
{
	static const char *const bad[] = {
		"1.2.3.4",	  "localhost:99999", "[::1]",	      "",
		":9334",	  "1.2.3.4:",	     "1.2.3.4:65536", "1.2.3.4:80x",
		"1.2.3.4:-1",	  "[::1:9334",	     "::1:9334",      "[::1]9334",
		"[]:9334",	  "localhost:80",    "1.2.3.4.5:80",  "[1.2.3.4]:80",
		"1.2.3.4:123456",
	};
	struct canned c = { .text = "x 1\n" };
	struct zdd_metrics_server *s = NULL;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (zdd_metrics_serve(&s, bad[i], canned_metrics, &c) != -EINVAL || s)
			fail_msg("listen \"%s\" not rejected with -EINVAL", bad[i]);
	}
	assert_int_equal(zdd_metrics_serve(&s, "127.0.0.1:0", NULL, &c), -EINVAL);
	assert_null(s);
	zdd_metrics_stop(NULL);
	assert_int_equal(zdd_metrics_port(NULL), 0);
}

static void server_reports_a_busy_port(void **state)
{
	struct canned c = { .text = "x 1\n" };
	struct zdd_metrics_server *s = NULL, *t = NULL;
	char listen[32];

	(void)state;
	assert_int_equal(zdd_metrics_serve(&s, "127.0.0.1:0", canned_metrics, &c), 0);
	snprintf(listen, sizeof(listen), "127.0.0.1:%u", zdd_metrics_port(s));
	assert_int_equal(zdd_metrics_serve(&t, listen, canned_metrics, &c), -EADDRINUSE);
	assert_null(t);
	zdd_metrics_stop(s);
	/* stop released the port: it can be bound again */
	assert_int_equal(zdd_metrics_serve(&t, listen, canned_metrics, &c), 0);
	zdd_metrics_stop(t);
}

static int render_fixture(void *ctx, char **buf, size_t *len)
{
	struct fixture *f = ctx;

	return zdd_metrics_render(f->z, NULL, buf, len);
}

static void server_serves_the_rendered_maps(void **state)
{
	struct fixture *f = *state;
	struct pkt syn = pkt_tcp("fd00:1::2", 40001, VIP6, 80, TH_SYN);
	struct zdd_metrics_server *s = NULL;
	struct http_reply r;

	assert_int_equal(run(f, &syn), XDP_TX);
	assert_int_equal(zdd_metrics_serve(&s, "127.0.0.1:0", render_fixture, f), 0);
	r = http(AF_INET, zdd_metrics_port(s), "GET /metrics HTTP/1.0\r\n\r\n");
	zdd_metrics_stop(s);
	assert_int_equal(r.status, 200);
	assert_line(r.body, "zdd_backend_flows_new_total" BLUE6 " 1");
	assert_line(r.body, "zdd_conntrack_entries{table=\"embryonic\"} 1");
	free(r.raw);
}

#define T(fn)  cmocka_unit_test_setup_teardown(fn, fixture_setup_blue_green, fixture_teardown)
#define T0(fn) cmocka_unit_test(fn)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(counters_come_from_real_packets),
		T(every_verdict_reason_is_listed),
		T(weights_are_percent_of_new_clients),
		T(view_gives_rollout_and_health),
		T(unknown_rollout_state_is_rejected),
		T(fleet_node_says_where_it_stands),
		T(families_are_whole_and_only_the_designed_ones),
		T(promtool_accepts_the_text),
		T0(server_answers_get_metrics),
		T0(server_errors_by_path_method_and_callback),
		T0(server_listens_on_ipv6),
		T0(server_rejects_bad_listen),
		T0(server_reports_a_busy_port),
		T(server_serves_the_rendered_maps),
	};

	/* a peer gone early (promtool, a test client) must fail a check, not kill the binary */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
