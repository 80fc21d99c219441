// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* tests/unit/test_analysis.c - the rollout's application checks against a real Prometheus (its
 * constant expressions, vector(0.2), need no scrape) and a real web server (python3's
 * http.server: JSON files, a POST echo) on 127.0.0.1, and raw sockets for a refused port and a
 * black hole; driven like the agent's loop (poll + run). Skipped without prometheus. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "addr.h"
#include "analysis.h"
#include "servers.h"

/*
 * RUN_MAX_US bounds one zdd_analysis_run(): a call that blocked on the black hole would take
 * its whole timeout (300 ms), while a busy CI machine under ASan or valgrind stretches a
 * non-blocking run to a few milliseconds, so the bound sits between the two.
 */
#define MAX_EV	      64
#define MAX_CONN      16
#define RUN_MAX_US    100000
#define WATCHDOG_S    120 /* a case that blocks is ended by SIGALRM, failed */
#define TICK_MS	      100 /* the agent's */
#define RUNS_PER_EVAL 10  /* connect, send, answer, timeout: a handful; a spinning loop, 1000s */
#define START_MS      30000
#define SVC	      "198.19.0.10:80/tcp"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* {{pool}} green reads g, blue reads b: label_replace() puts the pool in a label, unless drops
 * it for blue, and "or" falls back to b. */
#define POOL_QUERY(g, b)                                                                  \
	"sum(label_replace(vector(" g "), \"p\", \"{{pool}}\", \"\", \"\") unless on(p) " \
	"label_replace(vector(0), \"p\", \"blue\", \"\", \"\")) or vector(" b ")"

static const char server_py[] =
	"import http.server, json, sys\n"
	"class H(http.server.SimpleHTTPRequestHandler):\n"
	"    def log_message(self, *a):\n"
	"        pass\n"
	"    def answer(self, o):\n"
	"        b = json.dumps(o).encode()\n"
	"        self.send_response(200)\n"
	"        self.send_header('Content-Type', 'application/json')\n"
	"        self.send_header('Content-Length', str(len(b)))\n"
	"        self.end_headers()\n"
	"        self.wfile.write(b)\n"
	"    def do_GET(self):\n"
	"        if self.path.startswith('/echo'):\n"
	"            return self.answer({'path': self.path})\n"
	"        return super().do_GET()\n"
	"    def do_POST(self):\n"
	"        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))\n"
	"        self.answer({'echo': json.loads(body),\n"
	"                     'json': int(self.headers.get('Content-Type') == "
	"'application/json')})\n"
	"port, root = int(sys.argv[1]), sys.argv[2]\n"
	"http.server.ThreadingHTTPServer(('127.0.0.1', port),\n"
	"                                lambda *a: H(*a, directory=root)).serve_forever()\n";

static const struct {
	const char *name, *text;
} files[] = {
	{ "green.json", "{\"verdict\": {\"score\": 0.9, \"name\": \"x\", \"none\": null},\n"
			" \"list\": [1, {\"v\": \"0.25\"}]}\n" },
	{ "blue.json", "{\"verdict\": {\"score\": 0.3}, \"list\": [{\"v\": \"0.5\\u0000x\"}]}" },
	{ "number.json", " 0.5\n" },
	{ "plain.txt", "0.5 and more\n" },
};

/* The servers, for every case. */
static struct {
	char dir[64];
	pid_t prom, web;
	char prom_addr[64];
	__u16 web_port;
} w = { .prom = -1, .web = -1 };

struct fixture {
	struct zdd_analysis *an;
	struct zdd_service_key svc;
	struct zdd_conf_analysis chk[ZDD_CONF_MAX_CHECKS];
	int n;
	__u8 cand;
	struct zdd_an_eval ev[MAX_EV];
	long ev_ms[MAX_EV];
	size_t n_ev;
	long t0;
	long max_run_us;
	long runs; /* zdd_analysis_run() calls drive() made */
	bool stop_in_cb;
	int again_in_cb; /* evaluations the callback still starts itself */
	__u64 cb_now;	 /* its clock, a second further at each call: always due */
	int hole;	 /* a black hole's listening socket, or -1 */
	__u16 hole_port;
	int conn[MAX_CONN]; /* its accepted connections, never answered */
	int n_conn;
};

static int write_file(const char *dir, const char *name, const char *text, size_t len)
{
	char path[128];
	FILE *fp;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	if (!fp)
		return -1;
	rc = fwrite(text, 1, len, fp) == len ? 0 : -1;
	return fclose(fp) || rc ? -1 : 0;
}

static int world_down(void **state)
{
	(void)state;
	stop_child(&w.prom);
	stop_child(&w.web);
	if (w.dir[0])
		rm_tree(w.dir);
	return 0;
}

static int world_up(void **state)
{
	char conf[128], data[128], listen[64], script[128], www[128], log[128], port[8], *big;
	__u16 prom_port;
	size_t i;
	int fd;

	strcpy(w.dir, "/tmp/zdd-test-analysis-XXXXXX");
	if (!mkdtemp(w.dir))
		return -1;
	snprintf(www, sizeof(www), "%s/www", w.dir);
	if (mkdir(www, 0700) || write_file(w.dir, "prometheus.yml", "global: {}\n", 11) ||
	    write_file(w.dir, "server.py", server_py, strlen(server_py)))
		goto fail;
	for (i = 0; i < ARRAY_SIZE(files); i++)
		if (write_file(www, files[i].name, files[i].text, strlen(files[i].text)))
			goto fail;
	/* Twice the cap, valid JSON: refused for its size, not for its syntax. */
	big = malloc(2 << 20);
	if (!big)
		goto fail;
	memset(big, ' ', 2 << 20);
	big[0] = '1';
	fd = write_file(www, "big.json", big, 2 << 20);
	free(big);
	if (fd)
		goto fail;

	prom_port = free_port();
	w.web_port = free_port();
	snprintf(conf, sizeof(conf), "--config.file=%s/prometheus.yml", w.dir);
	snprintf(data, sizeof(data), "--storage.tsdb.path=%s/data", w.dir);
	snprintf(listen, sizeof(listen), "--web.listen-address=127.0.0.1:%u", prom_port);
	snprintf(w.prom_addr, sizeof(w.prom_addr), "http://127.0.0.1:%u", prom_port);
	snprintf(log, sizeof(log), "%s/prometheus.log", w.dir);
	w.prom = spawn(log, (const char *const[]){ "prometheus", conf, data, listen,
						   "--log.level=warn", NULL });
	snprintf(script, sizeof(script), "%s/server.py", w.dir);
	snprintf(port, sizeof(port), "%u", w.web_port);
	snprintf(log, sizeof(log), "%s/web.log", w.dir);
	w.web = spawn(log, (const char *const[]){ "python3", script, port, www, NULL });
	if (!prom_port || !w.web_port || w.prom < 0 || w.web < 0 ||
	    !http_ready(prom_port, "/-/ready", NULL, START_MS) ||
	    !http_ready(w.web_port, "/blue.json", NULL, START_MS)) {
		fprintf(stderr, "test_analysis: the servers did not start (logs in %s)\n", w.dir);
		w.dir[0] = '\0'; /* kept for the logs */
		goto fail;
	}
	return 0;
fail:
	world_down(state);
	return -1;
}

/* ---- the engine, driven like the agent's loop ---- */

static void on_eval(void *ctx, const struct zdd_service_key *svc, const struct zdd_an_eval *e)
{
	struct fixture *f = ctx;

	if (f->n_ev < MAX_EV) {
		f->ev[f->n_ev] = *e;
		f->ev_ms[f->n_ev++] = now_ms() - f->t0;
	}
	if (f->stop_in_cb)
		zdd_analysis_stop(f->an, svc);
	if (f->again_in_cb && f->again_in_cb--) {
		f->cb_now += 1000;
		assert_int_equal(
			zdd_analysis_schedule(f->an, svc, f->chk, f->n, f->cand, f->cb_now), 0);
	}
}

static void release(void *arg)
{
	struct fixture *f = arg;

	zdd_analysis_free(f->an);
	f->an = NULL;
	while (f->n_conn)
		close(f->conn[--f->n_conn]);
	if (f->hole >= 0)
		close(f->hole);
	f->hole = -1;
}

static int setup(void **state)
{
	struct fixture *f = case_begin(state, sizeof(*f), release, WATCHDOG_S, "the engine");

	if (!f)
		return -1;
	f->hole = -1;
	f->cand = ZDD_GREEN;
	if (zdd_service_parse(SVC, &f->svc) || zdd_analysis_new(&f->an, on_eval, f))
		return -1;
	f->t0 = now_ms();
	return 0;
}

static struct zdd_conf_analysis *check(struct fixture *f, int i, enum zdd_an_kind kind)
{
	struct zdd_conf_analysis *a = &f->chk[i];

	memset(a, 0, sizeof(*a));
	snprintf(a->name, sizeof(a->name), "c%d", i);
	a->kind = kind;
	a->window_ms = 10000;
	a->interval_ms = 60000; /* one evaluation per case, unless a case says otherwise */
	a->timeout_ms = 3000;
	a->failure_limit = 2;
	a->inconclusive_limit = 3;
	if (i >= f->n)
		f->n = i + 1;
	return a;
}

static struct zdd_conf_analysis *prom(struct fixture *f, int i, const char *query)
{
	struct zdd_conf_analysis *a = check(f, i, ZDD_AN_PROMETHEUS);

	snprintf(a->address, sizeof(a->address), "%s", w.prom_addr);
	snprintf(a->query, sizeof(a->query), "%s", query);
	return a;
}

static struct zdd_conf_analysis *web(struct fixture *f, int i, const char *path, const char *field)
{
	struct zdd_conf_analysis *a = check(f, i, ZDD_AN_WEB);

	snprintf(a->url, sizeof(a->url), "http://127.0.0.1:%u%s", w.web_port, path);
	strcpy(a->method, "GET");
	snprintf(a->field, sizeof(a->field), "%s", field);
	return a;
}

static void set_max(struct zdd_conf_analysis *a, double max)
{
	a->has_max = true;
	a->max = max;
}

static void set_min(struct zdd_conf_analysis *a, double min)
{
	a->has_min = true;
	a->min = min;
}

static void set_ratio(struct zdd_conf_analysis *a, double ratio)
{
	a->has_ratio = a->compare_blue = true;
	a->max_ratio_to_blue = ratio;
}

static void schedule(struct fixture *f)
{
	assert_int_equal(zdd_analysis_schedule(f->an, &f->svc, f->chk, f->n, f->cand, now_ms()), 0);
}

/* The black hole takes connections and never answers; they are counted. */
static void take_connections(struct fixture *f)
{
	int fd;

	while (f->hole >= 0 && f->n_conn < MAX_CONN &&
	       (fd = accept4(f->hole, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		f->conn[f->n_conn++] = fd;
}

/*
 * poll(fd, timeout) + run, as the agent's loop does, until want evaluations are in: returns
 * the ms it took, or -1 when max_ms pass first. every_ms > 0 schedules that often (a tick).
 */
static long drive(struct fixture *f, size_t want, long max_ms, long every_ms)
{
	struct pollfd p = { .fd = zdd_analysis_fd(f->an), .events = POLLIN };
	long start = now_ms(), next = start, left, t;
	int ms;

	for (;;) {
		take_connections(f);
		if (f->n_ev >= want)
			return now_ms() - start;
		left = max_ms - (now_ms() - start);
		if (left <= 0)
			return -1;
		if (every_ms > 0 && now_ms() >= next) {
			schedule(f);
			next += every_ms;
		}
		ms = zdd_analysis_timeout_ms(f->an);
		if (ms < 0 || ms > left)
			ms = (int)left;
		if (every_ms > 0 && ms > next - now_ms())
			ms = next - now_ms() > 0 ? (int)(next - now_ms()) : 0;
		if (f->hole >= 0 && ms > 5)
			ms = 5; /* accepts are counted as they come */
		assert_true(poll(&p, 1, ms) >= 0);
		t = now_us();
		assert_int_equal(zdd_analysis_run(f->an, (__u64)now_ms()), 0);
		t = now_us() - t;
		f->runs++;
		if (t > f->max_run_us)
			f->max_run_us = t;
	}
}

/* The last evaluation of check i. */
static const struct zdd_an_eval *eval_of(struct fixture *f, int i)
{
	size_t k;

	for (k = f->n_ev; k-- > 0;)
		if (f->ev[k].check == i)
			return &f->ev[k];
	fail_msg("no evaluation of check %d", i);
	return NULL;
}

static void is(struct fixture *f, int i, enum zdd_an_result r, const char *why)
{
	const struct zdd_an_eval *e = eval_of(f, i);

	if (e->result != r || !strstr(e->why, why))
		fail_msg("check %d: result %d \"%s\", want %d \"...%s...\"", i, e->result, e->why,
			 r, why);
}

static void value_is(struct fixture *f, int i, __u8 pool, double v)
{
	const struct zdd_an_eval *e = eval_of(f, i);

	assert_true(e->has_value[pool]);
	if (e->value[pool] < v - 1e-9 || e->value[pool] > v + 1e-9)
		fail_msg("check %d: %s value %g, want %g", i, pool ? "green" : "blue",
			 e->value[pool], v);
}

/* Check i asks a black hole: a listener that takes connections and never answers. */
static struct zdd_conf_analysis *hole_check(struct fixture *f, int i, __u32 timeout_ms)
{
	struct zdd_conf_analysis *a = prom(f, i, "vector(1)");

	if (f->hole < 0) {
		f->hole = tcp_socket(AF_INET, SOMAXCONN, &f->hole_port);
		assert_true(f->hole >= 0);
	}
	snprintf(a->address, sizeof(a->address), "http://127.0.0.1:%u", f->hole_port);
	set_max(a, 1);
	a->timeout_ms = timeout_ms;
	return a;
}

/* ---- cases ---- */

static void prometheus_thresholds(void **state)
{
	struct fixture *f = *state;

	set_max(prom(f, 0, "vector(0.2)"), 0.5);
	set_max(prom(f, 1, "scalar(vector(0.2))"), 0.1);
	set_min(prom(f, 2, "vector(0.2)"), 0.3);
	set_min(prom(f, 3, "vector(0.2)"), 0.1);
	set_max(&f->chk[3], 0.3);
	set_min(prom(f, 4, "vector(-2.5)"), -3);
	schedule(f);
	assert_in_range(drive(f, 5, 5000, 0), 0, 5000);
	assert_int_equal(f->n_ev, 5);
	is(f, 0, ZDD_AN_PASS, "0.2 within max 0.5");
	value_is(f, 0, ZDD_GREEN, 0.2);
	assert_false(eval_of(f, 0)->has_value[ZDD_BLUE]);
	is(f, 1, ZDD_AN_FAIL, "0.2 over max 0.1");
	value_is(f, 1, ZDD_GREEN, 0.2);
	is(f, 2, ZDD_AN_FAIL, "0.2 under min 0.3");
	is(f, 3, ZDD_AN_PASS, "0.2 within min 0.1, max 0.3");
	is(f, 4, ZDD_AN_PASS, "-2.5 within min -3");
	case_finish(f);
}

static void ratio_to_the_stable_pool(void **state)
{
	struct fixture *f = *state;
	struct zdd_service_key other;

	set_ratio(prom(f, 0, POOL_QUERY("0.3", "0.1")), 2);
	set_ratio(prom(f, 1, POOL_QUERY("0.3", "0.1")), 4);
	/* The stable pool at 0: no ratio judged, max decides. */
	set_ratio(prom(f, 2, POOL_QUERY("0.3", "0")), 2);
	set_max(&f->chk[2], 0.5);
	prom(f, 3, POOL_QUERY("0.3", "0.1"))->compare_blue = true;
	set_max(&f->chk[3], 1);
	schedule(f);
	assert_in_range(drive(f, 4, 5000, 0), 0, 5000);
	is(f, 0, ZDD_AN_FAIL, "0.3 is 3 x the stable pool's 0.1, over 2");
	value_is(f, 0, ZDD_GREEN, 0.3);
	value_is(f, 0, ZDD_BLUE, 0.1);
	is(f, 1, ZDD_AN_PASS, "0.3 within 3 x the stable pool's 0.1 (max 4)");
	is(f, 2, ZDD_AN_PASS, "0.3 within max 0.5; no ratio: the stable pool's value is 0");
	is(f, 3, ZDD_AN_PASS, "0.3 within max 1");
	value_is(f, 3, ZDD_BLUE, 0.1);

	/* Rolling back to blue: blue is the candidate, green the stable pool. */
	f->n_ev = 0;
	f->n = 1;
	f->cand = ZDD_BLUE;
	assert_int_equal(zdd_service_parse("198.19.0.11:80/tcp", &other), 0);
	assert_int_equal(zdd_analysis_schedule(f->an, &other, f->chk, 1, ZDD_BLUE, now_ms()), 0);
	assert_in_range(drive(f, 1, 5000, 0), 0, 5000);
	is(f, 0, ZDD_AN_PASS, "0.1 within 0.333 x the stable pool's 0.3 (max 2)");
	case_finish(f);
}

static void prometheus_without_a_number(void **state)
{
	struct fixture *f = *state;

	set_max(prom(f, 0, "vector(1) > 2"), 1);
	set_max(prom(f, 1, "vector(NaN)"), 1);
	set_max(prom(f, 2,
		     "label_replace(vector(1), \"a\", \"x\", \"\", \"\") or "
		     "label_replace(vector(2), \"a\", \"y\", \"\", \"\")"),
		1);
	set_max(prom(f, 3, "sum(rate(http_requests_total[{{window}}]"), 1);
	set_max(prom(f, 4, "\"a string\""), 1);
	set_max(prom(f, 5, "vector(Inf)"), 1);
	schedule(f);
	assert_in_range(drive(f, 6, 5000, 0), 0, 5000);
	is(f, 0, ZDD_AN_INCONCLUSIVE, "no data: the query returned no series");
	is(f, 1, ZDD_AN_INCONCLUSIVE, "the value is NaN");
	is(f, 2, ZDD_AN_INCONCLUSIVE, "the query returned 2 series, not one");
	/* Prometheus' own words, from its HTTP 400. */
	is(f, 3, ZDD_AN_INCONCLUSIVE, "HTTP 400: invalid parameter \"query\": 1:");
	is(f, 3, ZDD_AN_INCONCLUSIVE, "parse error");
	is(f, 4, ZDD_AN_INCONCLUSIVE, "the query returned a string, not one number");
	is(f, 5, ZDD_AN_INCONCLUSIVE, "the value is infinite");
	assert_false(eval_of(f, 0)->has_value[ZDD_GREEN]);
	case_finish(f);
}

/* {{window}} as Prometheus writes durations: both forms are accepted by PromQL. */
static void window_in_promql(void **state)
{
	struct fixture *f = *state;
	const char *q = "sum(count_over_time(vector(1)[{{window}}:1s]))";

	set_max(prom(f, 0, q), 1000);
	f->chk[0].window_ms = 10000;
	set_max(prom(f, 1, q), 1000);
	f->chk[1].window_ms = 2500;
	schedule(f);
	assert_in_range(drive(f, 2, 5000, 0), 0, 5000);
	is(f, 0, ZDD_AN_PASS, "within max 1000");
	assert_in_range(eval_of(f, 0)->value[ZDD_GREEN], 9, 11);
	is(f, 1, ZDD_AN_PASS, "within max 1000");
	assert_in_range(eval_of(f, 1)->value[ZDD_GREEN], 2, 3);
	case_finish(f);
}

static void web_get(void **state)
{
	struct fixture *f = *state;

	set_min(web(f, 0, "/{{pool}}.json", "verdict.score"), 1);
	set_max(web(f, 1, "/{{pool}}.json", "list.1.v"), 1);
	set_max(web(f, 2, "/{{pool}}.json", "verdict.missing"), 1);
	set_max(web(f, 3, "/{{pool}}.json", "verdict.name"), 1);
	set_max(web(f, 4, "/{{pool}}.json", "verdict"), 1);
	set_ratio(web(f, 5, "/{{pool}}.json", "verdict.score"), 2);
	set_max(web(f, 6, "/nothing.json", ""), 1);
	set_max(web(f, 7, "/big.json", ""), 1);
	set_max(web(f, 8, "/{{pool}}.json", "list.5"), 1);
	set_max(web(f, 9, "/plain.txt", ""), 1);
	set_max(web(f, 10, "/number.json", ""), 1);
	set_max(web(f, 11, "/{{pool}}.json", "verdict.none"), 1);
	set_max(web(f, 12, "/{{pool}}.json", "list.0.v"), 1);
	set_max(web(f, 13, "/blue.json", "list.0.v"), 1);
	schedule(f);
	assert_in_range(drive(f, 14, 5000, 0), 0, 5000);
	is(f, 0, ZDD_AN_FAIL, "0.9 under min 1");
	is(f, 1, ZDD_AN_PASS, "0.25 within max 1"); /* a number in a string */
	is(f, 2, ZDD_AN_INCONCLUSIVE, "verdict.missing: not found");
	is(f, 3, ZDD_AN_INCONCLUSIVE, "verdict.name: 'x' is not a number");
	is(f, 4, ZDD_AN_INCONCLUSIVE, "verdict: object is not a number");
	is(f, 5, ZDD_AN_FAIL, "0.9 is 3 x the stable pool's 0.3, over 2");
	is(f, 6, ZDD_AN_INCONCLUSIVE, "HTTP 404");
	is(f, 7, ZDD_AN_INCONCLUSIVE, "the answer is larger than 1024 KiB");
	is(f, 8, ZDD_AN_INCONCLUSIVE, "list.5: not found");
	is(f, 9, ZDD_AN_INCONCLUSIVE, "the answer is not JSON");
	is(f, 10, ZDD_AN_PASS, "0.5 within max 1");
	is(f, 11, ZDD_AN_INCONCLUSIVE, "verdict.none: null is not a number");
	is(f, 12, ZDD_AN_INCONCLUSIVE, "list.0.v: not found");
	is(f, 13, ZDD_AN_INCONCLUSIVE, "list.0.v: '0.5' is not a number");
	case_finish(f);
}

static void web_post_and_placeholders(void **state)
{
	static const char body[] = "{\"release\": \"{{service}}\", \"pool\": \"{{pool}}\", "
				   "\"window\": \"{{window}}\", \"score\": 7}";
	struct fixture *f = *state;
	int i;

	for (i = 0; i < 4; i++) {
		web(f, i, "/verdict", "");
		strcpy(f->chk[i].method, "POST");
		strcpy(f->chk[i].body, body);
		set_max(&f->chk[i], 5);
	}
	strcpy(f->chk[0].field, "echo.score");
	strcpy(f->chk[1].field, "echo.release");
	strcpy(f->chk[2].field, "echo.window");
	f->chk[2].window_ms = 90000;
	strcpy(f->chk[3].field, "json");
	set_min(&f->chk[3], 1);
	/* In a URL the values are percent-encoded. */
	set_max(web(f, 4, "/echo?svc={{service}}&pool={{pool}}&w={{window}}", "path"), 1);
	f->chk[4].window_ms = 1500;
	schedule(f);
	assert_in_range(drive(f, 5, 5000, 0), 0, 5000);
	is(f, 0, ZDD_AN_FAIL, "7 over max 5");
	is(f, 1, ZDD_AN_INCONCLUSIVE, "echo.release: '" SVC "' is not a number");
	is(f, 2, ZDD_AN_INCONCLUSIVE, "echo.window: '90s' is not a number");
	is(f, 3, ZDD_AN_PASS, "1 within min 1, max 5"); /* sent as application/json */
	is(f, 4, ZDD_AN_INCONCLUSIVE,
	   "'/echo?svc=198.19.0.10%3A80%2Ftcp&pool=green&w=1500ms' is not a number");
	case_finish(f);
}

static void refused_is_inconclusive_at_once(void **state)
{
	struct fixture *f = *state;
	char addr[64];
	__u16 port;
	int fd = tcp_socket(AF_INET, -1, &port); /* bound, not listening: refused */
	long ms;

	assert_true(fd >= 0);
	snprintf(addr, sizeof(addr), "http://127.0.0.1:%u", port);
	set_max(prom(f, 0, "vector(1)"), 1);
	strcpy(f->chk[0].address, addr);
	schedule(f);
	ms = drive(f, 1, 3000, 0);
	close(fd);
	assert_in_range(ms, 0, 500);
	is(f, 0, ZDD_AN_INCONCLUSIVE, "127.0.0.1");
	assert_non_null(strstr(eval_of(f, 0)->why, "onnect"));
	case_finish(f);
}

static void black_hole_times_out_without_blocking(void **state)
{
	struct fixture *f = *state;

	hole_check(f, 0, 300);
	/* Another check of the same service is not held up by it. */
	set_max(prom(f, 1, "vector(0.2)"), 1);
	schedule(f);
	assert_in_range(drive(f, 1, 3000, 0), 0, 250);
	is(f, 1, ZDD_AN_PASS, "0.2 within max 1");
	assert_in_range(drive(f, 2, 3000, 0), 0, 3000);
	assert_in_range(f->ev_ms[1], 290, 1000);
	is(f, 0, ZDD_AN_INCONCLUSIVE, "no answer within 300 ms");
	assert_int_equal(f->n_conn, 1);
	if (f->max_run_us >= RUN_MAX_US)
		fail_msg("a run took %ld us", f->max_run_us);
	case_finish(f);
}

static void one_evaluation_in_flight(void **state)
{
	struct fixture *f = *state;

	hole_check(f, 0, 500)->interval_ms = 10;
	/* Scheduled every 10 ms: the hung request is not doubled. */
	assert_int_equal(drive(f, 1, 400, 10), -1);
	assert_int_equal(f->n_conn, 1);
	assert_int_equal(f->n_ev, 0);
	assert_in_range(drive(f, 1, 2000, 10), 0, 2000);
	assert_int_equal(f->n_ev, 1);
	assert_in_range(f->ev_ms[0], 480, 1500);
	/* Then the next one starts at the next tick. */
	drive(f, 2, 100, 10);
	assert_int_equal(f->n_conn, 2);
	assert_int_equal(f->n_ev, 1);
	case_finish(f);
}

/* The connection the engine had open to the black hole was closed (its request read first). */
static bool closed_by_peer(int fd)
{
	char buf[4096];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		;
	return n == 0;
}

static void stop_aborts(void **state)
{
	struct fixture *f = *state;
	long start;

	hole_check(f, 0, 400);
	schedule(f);
	drive(f, 1, 100, 0);
	assert_int_equal(f->n_conn, 1);
	assert_false(closed_by_peer(f->conn[0]));
	zdd_analysis_stop(f->an, &f->svc);
	for (start = now_ms(); !closed_by_peer(f->conn[0]) && now_ms() - start < 1000;)
		nap_ms(5);
	assert_true(closed_by_peer(f->conn[0]));
	assert_int_equal(drive(f, 1, 600, 0), -1); /* past the timeout: nothing reported */
	assert_int_equal(f->n_ev, 0);

	/* From the callback: the first evaluation in stops the other one. */
	set_max(prom(f, 1, "vector(0.2)"), 1);
	f->stop_in_cb = true;
	schedule(f);
	assert_in_range(drive(f, 1, 2000, 0), 0, 2000);
	assert_int_equal(drive(f, 2, 600, 0), -1);
	assert_int_equal(f->n_ev, 1);
	is(f, 1, ZDD_AN_PASS, "0.2 within max 1");
	assert_int_equal(f->n_conn, 2);
	assert_true(closed_by_peer(f->conn[1]));
	case_finish(f);
}

static void schedule_from_the_callback(void **state)
{
	struct fixture *f = *state;

	set_max(prom(f, 0, "vector(0.2)"), 1);
	f->chk[0].interval_ms = 100;
	f->again_in_cb = 2;
	f->cb_now = (__u64)now_ms();
	assert_int_equal(zdd_analysis_schedule(f->an, &f->svc, f->chk, 1, ZDD_GREEN, f->cb_now), 0);
	assert_in_range(drive(f, 3, 3000, 0), 0, 3000);
	assert_int_equal(drive(f, 4, 300, 0), -1);
	assert_int_equal(f->n_ev, 3);
	is(f, 0, ZDD_AN_PASS, "0.2 within max 1");
	case_finish(f);
}

/* A new list (a reload) is matched by name: kept checks keep their evaluation in flight and
 * report their new index; a removed one's is aborted. */
static void new_check_list_matched_by_name(void **state)
{
	struct fixture *f = *state;
	struct zdd_conf_analysis keep[2];

	strcpy(hole_check(f, 0, 300)->name, "hole");
	set_max(prom(f, 1, "vector(0.2)"), 1);
	schedule(f);
	assert_in_range(drive(f, 1, 2000, 0), 0, 2000);
	is(f, 1, ZDD_AN_PASS, "0.2");
	assert_int_equal(f->n_conn, 1);
	/* Reordered: "hole" is now index 1, still the same request. */
	keep[0] = f->chk[1];
	keep[1] = f->chk[0];
	assert_int_equal(zdd_analysis_schedule(f->an, &f->svc, keep, 2, ZDD_GREEN, now_ms()), 0);
	assert_in_range(drive(f, 2, 2000, 0), 0, 2000);
	assert_int_equal(f->ev[1].check, 1);
	assert_int_equal(f->ev[1].result, ZDD_AN_INCONCLUSIVE);
	assert_int_equal(f->n_conn, 1);

	/* Due again (interval 10 ms): started, then dropped from the list. */
	keep[1].interval_ms = 10;
	nap_ms(20);
	assert_int_equal(zdd_analysis_schedule(f->an, &f->svc, keep, 2, ZDD_GREEN, now_ms()), 0);
	drive(f, 3, 100, 0);
	assert_int_equal(f->n_conn, 2);
	assert_int_equal(zdd_analysis_schedule(f->an, &f->svc, keep, 1, ZDD_GREEN, now_ms()), 0);
	assert_int_equal(drive(f, 3, 500, 0), -1);
	assert_int_equal(f->n_ev, 2);
	assert_true(closed_by_peer(f->conn[1]));
	case_finish(f);
}

/*
 * Between evaluations the loop sleeps, also when requests time out. libcurl (7.88) is left
 * without a timer by the timeout action that ends a timed-out transfer, and does not say so: a
 * timer kept from before stays due, the wait is 0 ms and the loop spins (thousands of runs a
 * second) until the next evaluation sets a new one.
 */
static void loop_sleeps_between_evaluations(void **state)
{
	struct fixture *f = *state;
	__u16 port;
	/* Listening, never accepted: the kernel takes the connection, nobody answers. */
	int fd = tcp_socket(AF_INET, SOMAXCONN, &port);
	size_t i;

	assert_true(fd >= 0);
	set_max(prom(f, 0, "vector(0.2)"), 1);
	set_max(prom(f, 1, "vector(0.2)"), 1);
	snprintf(f->chk[1].address, sizeof(f->chk[1].address), "http://127.0.0.1:%u", port);
	f->chk[1].timeout_ms = 200;
	for (i = 0; i < 2; i++)
		f->chk[i].interval_ms = 1000;
	/* Evaluations at 0 s and at the first ticks past 1 and 2 s; each tick is a run too. */
	assert_int_equal(drive(f, MAX_EV, 2500, TICK_MS), -1);
	close(fd);
	printf("# %ld runs for %zu evaluations in 2.5 s\n", f->runs, f->n_ev);
	assert_int_equal(f->n_ev, 6);
	is(f, 0, ZDD_AN_PASS, "0.2 within max 1");
	is(f, 1, ZDD_AN_INCONCLUSIVE, "no answer within 200 ms");
	if (f->runs > 2500 / TICK_MS + 1 + (long)f->n_ev * RUNS_PER_EVAL)
		fail_msg("%ld runs for %zu evaluations: the loop spins", f->runs, f->n_ev);
	case_finish(f);
}

static void bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct zdd_conf_analysis many[ZDD_CONF_MAX_CHECKS + 1];
	int i;

	assert_int_equal(zdd_analysis_timeout_ms(f->an), -1);
	assert_int_equal(zdd_analysis_run(f->an, (__u64)now_ms()), 0);
	set_max(prom(f, 0, "vector(1)"), 1);
	for (i = 0; i < (int)ARRAY_SIZE(many); i++) {
		many[i] = f->chk[0];
		snprintf(many[i].name, sizeof(many[i].name), "c%d", i);
	}
	assert_int_equal(
		zdd_analysis_schedule(f->an, &f->svc, many, ZDD_CONF_MAX_CHECKS + 1, ZDD_GREEN, 0),
		-EINVAL);
	assert_int_equal(zdd_analysis_schedule(f->an, &f->svc, many, -1, ZDD_GREEN, 0), -EINVAL);
	assert_int_equal(zdd_analysis_schedule(f->an, &f->svc, NULL, 1, ZDD_GREEN, 0), -EINVAL);
	assert_int_equal(zdd_analysis_schedule(f->an, &f->svc, many, 1, ZDD_POOLS, 0), -EINVAL);
	strcpy(many[1].name, "c0"); /* names identify checks */
	assert_int_equal(zdd_analysis_schedule(f->an, &f->svc, many, 2, ZDD_GREEN, 0), -EINVAL);
	many[0].interval_ms = 0;
	assert_int_equal(zdd_analysis_schedule(f->an, &f->svc, many, 1, ZDD_GREEN, 0), -EINVAL);
	many[0].interval_ms = 1000;
	memset(many[0].query, 'x', sizeof(many[0].query)); /* unterminated */
	assert_int_equal(zdd_analysis_schedule(f->an, &f->svc, many, 1, ZDD_GREEN, 0), -EINVAL);
	/* An empty list for a service never seen, and stop of one never seen: nothing to do. */
	assert_int_equal(zdd_analysis_schedule(f->an, &f->svc, NULL, 0, ZDD_GREEN, 0), 0);
	zdd_analysis_stop(f->an, &f->svc);
	zdd_analysis_free(NULL);
	assert_int_equal(zdd_analysis_timeout_ms(f->an), -1);
	case_finish(f);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, case_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(prometheus_thresholds),
		T(ratio_to_the_stable_pool),
		T(prometheus_without_a_number),
		T(window_in_promql),
		T(web_get),
		T(web_post_and_placeholders),
		T(refused_is_inconclusive_at_once),
		T(black_hole_times_out_without_blocking),
		T(one_evaluation_in_flight),
		T(stop_aborts),
		T(schedule_from_the_callback),
		T(new_check_list_matched_by_name),
		T(loop_sleeps_between_evaluations),
		T(bad_arguments),
	};

	if (!in_path("prometheus")) {
		printf("1..0 # SKIP prometheus is not installed\n");
		return 77;
	}
	/* Non-zero (the number of failures) when any case fails. */
	return cmocka_run_group_tests_name("analysis", tests, world_up, world_down) ? 1 : 0;
}
