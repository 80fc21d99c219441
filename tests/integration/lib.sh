# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash disable=SC2034 # the LAB_* variables are for the scripts that source this
# tests/integration/lib.sh - the network-namespace lab (client, router, LB, two blue and two green
# nginx backends) and TAP helpers. Sourced by tests/integration/test-*.sh, `make demo` and the
# benchmarks, so all of them run on one topology. Addresses only from 198.18.0.0/15 and fd00::/8.
#
#   client eth0 ---- to-client [rtr] to-lb ---- eth0 lb      (XDP: zdd on lb, pass-through on to-lb)
#   198.18.1.2/24     .1         .1    198.18.2.2/24          the service prefixes route to lb
#                              br0 198.18.3.1/24
#                  to-b1 to-b2 to-g1 to-g2 -- eth0 of b1 .11, b2 .12, g1 .21, g2 .22 (VIPs on lo)
#
# Usage:  source lib.sh; lab_require; tap_plan N; lab_up || tap_bail "lab setup"; ...; tap_done
# lab_up installs EXIT/INT/TERM/HUP traps that tear the lab down; do not set your own EXIT trap,
# register extra cleanup with `lab_defer CMD ARGS...` instead.

# --- names and addresses (override LAB_PREFIX before sourcing, so two labs can coexist) -------

LAB_PREFIX=${LAB_PREFIX:-zdd}
LAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_ROOT=${LAB_ROOT:-$(cd "$LAB_LIB_DIR/../.." && pwd)}
LAB_OUT=${OUT:-.output}
[[ $LAB_OUT == /* ]] || LAB_OUT="$LAB_ROOT/$LAB_OUT"
LAB_PASS_OBJ=${LAB_PASS_OBJ:-$LAB_OUT/zdd_decap.bpf.o}	# pass-through XDP (empty map: XDP_PASS)
LAB_PASS_PROG=zdd_xdp_decap
LAB_XDP_PASS=${LAB_XDP_PASS:-1}		# 0: lab_up leaves the rtr side of the lb link bare
LAB_CURL_TIMEOUT=${LAB_CURL_TIMEOUT:-2}
LAB_SKIP_RC=${LAB_SKIP_RC:-77}		# exit status of a skipped test (automake convention)
LAB_PIN_DIR="/sys/fs/bpf/${LAB_PREFIX}-lab"	# for tests that pin; removed by lab_down

LAB_ROLES=(client rtr lb b1 b2 g1 g2)
LAB_BACKENDS=(b1 b2 g1 g2)
LAB_BLUE=(b1 b2)
LAB_GREEN=(g1 g2)

LAB_VIP4=198.19.0.10
LAB_VIP6=fd00:5a::10
LAB_VIP4_NET=198.19.0.0/24		# what rtr routes to lb (room for more services)
LAB_VIP6_NET=fd00:5a::/64
LAB_PORT=80
LAB_SVC4="$LAB_VIP4:$LAB_PORT/tcp"	# zdd-bpfctl service syntax
LAB_SVC6="[$LAB_VIP6]:$LAB_PORT/tcp"

LAB_CLIENT4=198.18.1.2
LAB_CLIENT6=fd00:1::2
LAB_RTR_CLIENT4=198.18.1.1
LAB_RTR_CLIENT6=fd00:1::1
LAB_LB4=198.18.2.2
LAB_LB6=fd00:2::2
LAB_RTR_LB4=198.18.2.1
LAB_RTR_LB6=fd00:2::1
LAB_RTR_BE4=198.18.3.1
LAB_RTR_BE6=fd00:3::1
LAB_BACKENDS4=(198.18.3.11 198.18.3.12 198.18.3.21 198.18.3.22)	# same order as LAB_BACKENDS
LAB_BACKENDS6=(fd00:3::11 fd00:3::12 fd00:3::21 fd00:3::22)
LAB_BLUE4=(198.18.3.11 198.18.3.12)
LAB_BLUE6=(fd00:3::11 fd00:3::12)
LAB_GREEN4=(198.18.3.21 198.18.3.22)
LAB_GREEN6=(fd00:3::21 fd00:3::22)

LAB_CLIENT_DEV=eth0			# in client
LAB_RTR_CLIENT_DEV=to-client		# in rtr
LAB_LB_DEV=eth0				# in lb: where the zdd XDP program goes
LAB_RTR_LB_DEV=to-lb			# in rtr: the peer of LAB_LB_DEV, runs the pass-through
LAB_BACKEND_DEV=eth0			# in each backend: where zdd_decap goes
LAB_RTR_BRIDGE=br0			# in rtr; its ports are to-b1, to-b2, to-g1, to-g2
# Every link at 1500, as on real networks: zdd answers what its tunnel header would push over
# that with ICMP "fragmentation needed" / "packet too big" (path MTU discovery). LAB_MTU=1600
# gives the lb and backend links room for the 20/40 bytes of IPIP/IP6IP6 instead.
LAB_MTU=${LAB_MTU:-1500}
LAB_MTU_CLIENT=1500
LAB_MTU_LB=$LAB_MTU
LAB_MTU_BACKEND=$LAB_MTU

LAB_NS_CLIENT="$LAB_PREFIX-client"
LAB_NS_RTR="$LAB_PREFIX-rtr"
LAB_NS_LB="$LAB_PREFIX-lb"
LAB_NS_B1="$LAB_PREFIX-b1"
LAB_NS_B2="$LAB_PREFIX-b2"
LAB_NS_G1="$LAB_PREFIX-g1"
LAB_NS_G2="$LAB_PREFIX-g2"

export LAB_PREFIX LAB_ROOT LAB_OUT LAB_PASS_OBJ LAB_PIN_DIR LAB_VIP4 LAB_VIP6 LAB_PORT LAB_SVC4 \
	LAB_SVC6 LAB_CLIENT4 LAB_CLIENT6 LAB_LB4 LAB_LB6 LAB_RTR_LB4 LAB_RTR_LB6 LAB_CLIENT_DEV \
	LAB_LB_DEV LAB_RTR_LB_DEV LAB_BACKEND_DEV LAB_NS_CLIENT LAB_NS_RTR LAB_NS_LB LAB_NS_B1 \
	LAB_NS_B2 LAB_NS_G1 LAB_NS_G2

# Run state (set by lab_up).
LAB_DIR=""				# per-run temp dir: nginx configs, pids, logs
LAB_OWNER=0				# 1 while this shell owns a lab it must tear down
LAB_XDP_PASS_MODE=""			# drv or generic once attached
LAB_DEFERRED=()
declare -gA LAB_NGINX_PID=()

# --- TAP ----------------------------------------------------------------------------------------

TAP_N=0
TAP_FAILED=0
TAP_PLANNED=""

tap_plan() { TAP_PLANNED=$1; echo "1..$1"; }
tap_diag() { local line; for line in "$@"; do printf '%s\n' "$line" | sed 's/^/# /'; done; }
tap_ok() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }

# tap_fail DESC [DIAGNOSTIC...]
tap_fail()
{
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $1"
	shift
	[[ $# -eq 0 ]] || tap_diag "$@"
	return 1
}

# tap_check DESC CMD...: ok when CMD exits 0; its output is shown only on failure. CMD runs in
# this shell (not a subshell), so it may change lab state.
tap_check()
{
	local desc=$1 out rc
	shift
	out=$(mktemp) || return 1
	"$@" >"$out" 2>&1 </dev/null	# in this shell: CMD may change lab state
	rc=$?
	if ((rc == 0)); then
		tap_ok "$desc"
	else
		tap_fail "$desc" "command: $* (exit $rc)" "$(head -n 20 "$out")"
	fi
	rm -f "$out"
	return "$rc"
}

# tap_is DESC GOT WANT: string comparison.
tap_is()
{
	if [[ $2 == "$3" ]]; then
		tap_ok "$1"
	else
		tap_fail "$1" "got:  '$2'" "want: '$3'"
	fi
}

tap_skip() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $1 # SKIP ${2:-}"; }

# tap_skip_all REASON: before any test, `1..0 # SKIP`; after the plan, the rest of it as skipped.
# Exits with LAB_SKIP_RC (77) either way: a skip is never counted as a pass.
tap_skip_all()
{
	if [[ -z $TAP_PLANNED && $TAP_N -eq 0 ]]; then
		echo "1..0 # SKIP $*"
	else
		while ((TAP_N < ${TAP_PLANNED:-0})); do
			tap_skip "skipped" "$*"
		done
	fi
	exit "$LAB_SKIP_RC"
}
lab_skip() { tap_skip_all "$@"; }

tap_bail() { echo "Bail out! $*"; exit 1; }

# tap_done: exit 0 when every planned test ran and passed, 1 otherwise.
tap_done()
{
	if [[ -n $TAP_PLANNED && $TAP_N -ne $TAP_PLANNED ]]; then
		tap_diag "planned $TAP_PLANNED tests, ran $TAP_N"
		exit 1
	fi
	((TAP_FAILED == 0)) || exit 1
	exit 0
}

# --- requirements -------------------------------------------------------------------------------

lab_require_root() { [[ $(id -u) -eq 0 ]] || lab_skip "needs root (network namespaces)"; }

# lab_require_cmd CMD...: skip the test unless every command exists.
lab_require_cmd()
{
	local cmd
	for cmd in "$@"; do
		command -v "$cmd" >/dev/null 2>&1 || lab_skip "$cmd not installed"
	done
}

# Builds the pass-through object when it is missing; skips when that fails.
lab_require_pass_obj()
{
	[[ $LAB_XDP_PASS == 1 && ! -s $LAB_PASS_OBJ ]] || return 0
	make -C "$LAB_ROOT" --no-print-directory -s "$LAB_PASS_OBJ" >&2 || true
	[[ -s $LAB_PASS_OBJ ]] || lab_skip "$LAB_PASS_OBJ missing and make could not build it"
}

# Everything lab_up needs. Call it before tap_plan for a clean `1..0 # SKIP`.
lab_require()
{
	lab_require_root
	lab_require_cmd ip nsenter sysctl ethtool curl nginx
	[[ $LAB_PREFIX =~ ^[A-Za-z0-9_.-]+$ ]] || tap_bail "bad LAB_PREFIX '$LAB_PREFIX'"
	lab_require_pass_obj
}

# --- lookups ------------------------------------------------------------------------------------

# lab_ns ROLE: the namespace name of a role (client rtr lb b1 b2 g1 g2); other names unchanged.
lab_ns()
{
	local role
	for role in "${LAB_ROLES[@]}"; do
		[[ $1 == "$role" ]] && { echo "$LAB_PREFIX-$1"; return 0; }
	done
	echo "$1"
}

# lab_addr4 / lab_addr6 BACKEND, lab_pool BACKEND (blue|green)
lab_addr4() { local i; for i in "${!LAB_BACKENDS[@]}"; do [[ ${LAB_BACKENDS[i]} == "$1" ]] && echo "${LAB_BACKENDS4[i]}"; done; }
lab_addr6() { local i; for i in "${!LAB_BACKENDS[@]}"; do [[ ${LAB_BACKENDS[i]} == "$1" ]] && echo "${LAB_BACKENDS6[i]}"; done; }
lab_pool() { case $1 in b*) echo blue ;; g*) echo green ;; *) return 1 ;; esac; }

# lab_ifindex NS DEV: interface index from netlink (sysfs lies under nsenter).
lab_ifindex()
{
	local json
	json=$(ip -n "$(lab_ns "$1")" -j link show dev "$2") || return 1
	[[ $json =~ \"ifindex\":([0-9]+) ]] || return 1
	echo "${BASH_REMATCH[1]}"
}

# lab_mac NS DEV
lab_mac()
{
	local json
	json=$(ip -n "$(lab_ns "$1")" -j link show dev "$2") || return 1
	[[ $json =~ \"address\":\"([0-9a-f:]+)\" ]] || return 1
	echo "${BASH_REMATCH[1]}"
}

# --- running things in the lab ------------------------------------------------------------------

# lab_exec NS CMD...: `ip netns exec` (remounts /sys: no bpffs; fine for nginx, curl, wrk).
lab_exec() { local ns; ns=$(lab_ns "$1"); shift; ip netns exec "$ns" "$@"; }

# lab_nsenter NS CMD...: network namespace only, bpffs visible (zdd-bpfctl, zdd-agent, bpftool).
lab_nsenter() { local ns; ns=$(lab_ns "$1"); shift; nsenter --net="/run/netns/$ns" -- "$@"; }

# lab_url ADDR [PATH] [PORT]
lab_url()
{
	local addr=$1 path=${2:-/} port=${3:-$LAB_PORT}
	[[ $addr == *:* ]] && addr="[$addr]"
	printf 'http://%s:%s%s\n' "$addr" "$port" "$path"
}

# lab_curl_from NS ADDR [PATH [CURL_ARGS...]]: prints the body; fails on HTTP errors and timeouts.
lab_curl_from()
{
	local ns=$1 addr=$2 path=${3:-/}
	shift 2
	[[ $# -gt 0 ]] && shift
	lab_exec "$ns" curl -sS -f -g --noproxy '*' --connect-timeout "$LAB_CURL_TIMEOUT" \
		--max-time "$LAB_CURL_TIMEOUT" "$@" "$(lab_url "$addr" "$path")"
}

# lab_curl ADDR [PATH [CURL_ARGS...]]: from the client.
lab_curl() { lab_curl_from client "$@"; }

# --- setup helpers ------------------------------------------------------------------------------

# _lab_do CMD...: run, and on failure say what failed.
_lab_do()
{
	local out
	if ! out=$("$@" 2>&1); then
		echo "# lab: failed: $*" >&2
		[[ -z $out ]] || printf '%s\n' "$out" | sed 's/^/#   /' >&2
		return 1
	fi
}

_lab_sysctl() { local ns; ns=$(lab_ns "$1"); shift; _lab_do ip netns exec "$ns" sysctl -q -w "$@"; }

# _lab_veth NS_A DEV_A NS_B DEV_B MTU: a veth pair created directly in both namespaces, up.
_lab_veth()
{
	local a b
	a=$(lab_ns "$1") b=$(lab_ns "$3")
	_lab_do ip -n "$a" link add "$2" mtu "$5" type veth peer name "$4" netns "$b" mtu "$5" &&
		_lab_do ip -n "$a" link set "$2" up &&
		_lab_do ip -n "$b" link set "$4" up
}

# _lab_addr NS DEV ADDR/LEN...
_lab_addr()
{
	local ns dev a
	ns=$(lab_ns "$1") dev=$2
	shift 2
	for a in "$@"; do
		if [[ $a == *:* ]]; then
			_lab_do ip -n "$ns" -6 addr add "$a" dev "$dev" nodad || return 1
		else
			_lab_do ip -n "$ns" addr add "$a" dev "$dev" || return 1
		fi
	done
}

# lab_xdp_pass NS DEV: attach the pass-through XDP program (native, else generic). Sets
# LAB_XDP_PASS_MODE. Only native mode lets XDP_TX frames from the peer through (DESIGN.md 7).
lab_xdp_pass()
{
	local ns
	ns=$(lab_ns "$1")
	if ip -n "$ns" link set dev "$2" xdpdrv obj "$LAB_PASS_OBJ" sec xdp 2>/dev/null; then
		LAB_XDP_PASS_MODE=drv
	elif _lab_do ip -n "$ns" link set dev "$2" xdpgeneric obj "$LAB_PASS_OBJ" sec xdp; then
		LAB_XDP_PASS_MODE=generic
		echo "# lab: native XDP failed on $ns/$2, generic attached: XDP_TX will not pass" >&2
	else
		return 1
	fi
}

lab_xdp_off() { ip -n "$(lab_ns "$1")" link set dev "$2" xdp off; }

# --- nginx on the backends ----------------------------------------------------------------------

# What each backend answers: lab_backend_respond sets the status of every path (LAB_NGINX_CODE),
# lab_backend_app how the application behaves behind a 200 (LAB_APP_ERROR_PCT, LAB_APP_DELAY_MS).
# The config is rewritten whole from these, so setting one keeps the others.
declare -gA LAB_NGINX_CODE=() LAB_APP_ERROR_PCT=() LAB_APP_DELAY_MS=()
LAB_ACCESS_LOG=${LAB_ACCESS_LOG:-0}	# 1: access logs for mtail (lab_appmetrics_up sets it)
# The echo module (echo_sleep) comes with Debian 12's nginx-light, as a dependency.
LAB_NGINX_ECHO_MODULE=${LAB_NGINX_ECHO_MODULE:-/usr/lib/nginx/modules/ngx_http_echo_module.so}

# _lab_nginx_conf NAME CODE: (re)write NAME's config; CODE is the status of every answer. With
# CODE 200, the answers other than /health follow lab_backend_app's settings for NAME.
_lab_nginx_conf()
{
	local name=$1 code=$2 d="$LAB_DIR/$1" health=ok pool body
	local pct=${LAB_APP_ERROR_PCT[$1]:-0} delay=${LAB_APP_DELAY_MS[$1]:-0}
	local modules="" access="access_log off;" split="" fail="" answer
	[[ $code == 200 ]] || health=fail
	pool=$(lab_pool "$name")
	body="$name $pool"
	mkdir -p "$d/tmp" || return 1
	LAB_NGINX_CODE[$name]=$code
	# Loaded whenever it is there, so that no reload has to add a module.
	[[ -f $LAB_NGINX_ECHO_MODULE ]] && modules="load_module $LAB_NGINX_ECHO_MODULE;"
	((LAB_ACCESS_LOG)) && access="access_log $d/access.log zdd_app;"
	answer="return $code \"$body\\n\";"
	if [[ $code == 200 && $pct != 0 ]]; then
		# Which requests fail: a hash of each request's random id, so P% of them at random.
		split="split_clients \"\${request_id}\" \$zdd_app_fail { $pct% 1; * 0; }"
		fail="if (\$zdd_app_fail) { return 500 \"$body: application error\\n\"; }"
	fi
	if [[ $code == 200 && $delay != 0 ]]; then
		# echo_sleep waits on a timer (the worker serves others meanwhile), then echo answers.
		answer=$(printf 'echo_sleep %d.%03d; echo "%s";' \
			$((delay / 1000)) $((delay % 1000)) "$body")
	fi
	cat >"$d/nginx.conf" <<EOF
# generated by tests/integration/lib.sh for lab $LAB_PREFIX, backend $name
$modules
daemon off;
master_process on;
worker_processes 1;
user root;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
	# nginx.mtail reads this format: the status and the seconds (ms resolution) of each answer.
	log_format zdd_app '\$msec \$status \$request_time \$request_method \$request_uri';
	$access
	client_body_temp_path $d/tmp/body;
	proxy_temp_path $d/tmp/proxy;
	fastcgi_temp_path $d/tmp/fastcgi;
	uwsgi_temp_path $d/tmp/uwsgi;
	scgi_temp_path $d/tmp/scgi;
	keepalive_requests 100000;
	keepalive_timeout 65s;
	default_type text/plain;
	$split
	server {
		listen 80 default_server backlog=4096;
		listen [::]:80 default_server ipv6only=on backlog=4096;
		location = /health { return $code "$health\n"; }
		location / {
			$fail
			$answer
		}
	}
}
EOF
}

_lab_alive() # PID: running and not a zombie
{
	local stat
	[[ $1 =~ ^[0-9]+$ ]] || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# lab_backend_start NAME: start NAME's nginx and wait until it listens (its pid file exists).
lab_backend_start()
{
	local name=$1 d="$LAB_DIR/$1" pid i
	[[ -f $d/nginx.conf ]] || _lab_nginx_conf "$name" 200 || return 1
	rm -f "$d/nginx.pid"
	ip netns exec "$(lab_ns "$name")" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" \
		</dev/null >>"$d/stdout.log" 2>&1 &
	pid=$!
	LAB_NGINX_PID[$name]=$pid
	for ((i = 0; i < 100; i++)); do	# 5 s
		[[ -s $d/nginx.pid ]] && return 0
		_lab_alive "$pid" || break
		sleep 0.05
	done
	echo "# lab: nginx on $name did not start:" >&2
	sed 's/^/#   /' "$d/error.log" "$d/stdout.log" >&2 2>/dev/null
	return 1
}

# _lab_kill_wait SIG PID...: signal, wait up to 3 s, then SIGKILL what is left; reap children.
_lab_kill_wait()
{
	local sig=$1 pid i left
	shift
	[[ $# -gt 0 ]] || return 0
	kill "-$sig" "$@" 2>/dev/null || true
	for ((i = 0; i < 60; i++)); do
		left=0
		for pid in "$@"; do _lab_alive "$pid" && left=1; done
		((left)) || break
		sleep 0.05
	done
	((left)) && { kill -KILL "$@" 2>/dev/null || true; }
	for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
	return 0
}

# lab_backend_stop NAME: stop NAME's nginx (connections are then refused).
lab_backend_stop()
{
	local pid=${LAB_NGINX_PID[$1]:-}
	[[ -n $pid ]] || return 0
	_lab_kill_wait TERM "$pid"
	unset "LAB_NGINX_PID[$1]"
}

# _lab_nginx_reload NAME: NAME's nginx re-reads its config, which is checked first (the master
# would keep the old one and only log why). Returns once the old workers are gone (at most 5 s)
# and /health answers the config's status.
_lab_nginx_reload()
{
	local name=$1 d="$LAB_DIR/$1" pid=${LAB_NGINX_PID[$1]:-} code=${LAB_NGINX_CODE[$1]:-200}
	local i got old w left
	[[ -n $pid ]] || return 0
	_lab_do nginx -t -q -p "$d" -c "$d/nginx.conf" -e "$d/error.log" || return 1
	old=$(pgrep -P "$pid")
	kill -HUP "$pid" || return 1
	# Old workers keep accepting until the master tells them to quit: wait until they are gone.
	for ((i = 0; i < 100; i++)); do
		left=0
		for w in $old; do _lab_alive "$w" && left=1; done
		((left)) || break
		sleep 0.05
	done
	for ((i = 0; i < 60; i++)); do
		got=$(lab_exec "$name" curl -s -o /dev/null -w '%{http_code}' --noproxy '*' \
			--max-time 1 "http://127.0.0.1/health")
		[[ $got == "$code" ]] && return 0
		sleep 0.05
	done
	echo "# lab: $name still answers $got, not $code" >&2
	return 1
}

# lab_backend_respond NAME CODE: answer every path, /health included, with HTTP CODE (200 heals);
# returns once the new config answers. Back at 200, lab_backend_app's settings apply again.
lab_backend_respond() { _lab_nginx_conf "$1" "$2" && _lab_nginx_reload "$1"; }

# lab_backend_app NAME [--error-pct P] [--delay-ms D]: NAME's application goes bad while /health
# stays 200 and TCP stays fine: P% of the other requests, at random, answer 500 at once, and the
# rest answer after D ms. An option left out is 0, so no option heals. P: 0-100, up to two
# decimals; D: 0-60000. Returns once the new config answers.
# How, in nginx-light: split_clients on $request_id picks the failures, `return 500` in an `if`
# answers them; the delay is echo_sleep of the echo module that nginx-light depends on (core
# nginx has no directive that just waits; limit_req's delays depend on the rate, not the request).
lab_backend_app()
{
	local name=$1 pct=0 delay=0
	shift
	lab_pool "$name" >/dev/null || { echo "# lab: no backend '$name'" >&2; return 1; }
	while (($#)); do
		case $1 in
		--error-pct) pct=${2:-} ;;
		--delay-ms) delay=${2:-} ;;
		*) echo "# lab: lab_backend_app: unknown option '$1'" >&2; return 1 ;;
		esac
		shift 2 || { echo "# lab: lab_backend_app: $1 needs a value" >&2; return 1; }
	done
	if ! [[ $pct =~ ^[0-9]{1,3}(\.[0-9]{1,2})?$ ]] ||
		! awk -v p="$pct" 'BEGIN { exit !(p <= 100) }'; then
		echo "# lab: lab_backend_app: --error-pct '$pct': want 0-100" >&2
		return 1
	fi
	if ! [[ $delay =~ ^[0-9]{1,5}$ ]] || ((10#$delay > 60000)); then
		echo "# lab: lab_backend_app: --delay-ms '$delay': want 0-60000" >&2
		return 1
	fi
	delay=$((10#$delay))
	if ((delay > 0)) && [[ ! -f $LAB_NGINX_ECHO_MODULE ]]; then
		echo "# lab: lab_backend_app: --delay-ms needs nginx's $LAB_NGINX_ECHO_MODULE" >&2
		return 1
	fi
	pct=$(awk -v p="$pct" 'BEGIN { printf "%g", p }')	# 007.50 -> 7.5, 0.0 -> 0
	LAB_APP_ERROR_PCT[$name]=$pct
	LAB_APP_DELAY_MS[$name]=$delay
	_lab_nginx_conf "$name" "${LAB_NGINX_CODE[$name]:-200}" && _lab_nginx_reload "$name"
}

# --- up and down --------------------------------------------------------------------------------

_lab_on_exit()
{
	local rc=$?
	trap '' HUP INT TERM	# a second ^C must not cut the teardown short
	((LAB_OWNER)) && lab_down
	((rc == 0 && TAP_FAILED > 0)) && rc=1
	[[ $rc -eq 0 && -n $TAP_PLANNED && $TAP_N -lt $TAP_PLANNED ]] && rc=1
	exit "$rc"
}

lab_trap()
{
	trap _lab_on_exit EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# lab_defer CMD...: run CMD at teardown (last registered runs first), before namespaces go.
lab_defer() { LAB_DEFERRED+=("$(printf '%q ' "$@")"); }

_lab_ns_exists() { [[ -e /run/netns/$1 ]]; }

# lab_down: stop everything this lab started and delete its namespaces. Idempotent, and also
# clears what a crashed run with the same LAB_PREFIX left behind.
lab_down()
{
	local i ns name pids=() p

	for ((i = ${#LAB_DEFERRED[@]} - 1; i >= 0; i--)); do
		eval "${LAB_DEFERRED[i]}" >/dev/null 2>&1 || true
	done
	LAB_DEFERRED=()
	for name in "${!LAB_NGINX_PID[@]}"; do
		pids+=("${LAB_NGINX_PID[$name]}")
	done
	_lab_kill_wait TERM "${pids[@]}"
	LAB_NGINX_PID=() LAB_NGINX_CODE=() LAB_APP_ERROR_PCT=() LAB_APP_DELAY_MS=()

	# Whatever else still runs inside the lab (orphaned workers, a crashed run's servers, tools
	# a test started there): never this shell.
	pids=()
	for name in "${LAB_ROLES[@]}"; do
		ns="$LAB_PREFIX-$name"
		_lab_ns_exists "$ns" || continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			[[ $p == "$$" || $p == "$BASHPID" ]] || pids+=("$p")
		done
	done
	_lab_kill_wait TERM "${pids[@]}"

	for name in "${LAB_ROLES[@]}"; do
		ns="$LAB_PREFIX-$name"
		_lab_ns_exists "$ns" && ip netns del "$ns" 2>/dev/null
	done

	[[ -d $LAB_PIN_DIR ]] && rm -rf "$LAB_PIN_DIR"
	# LAB_KEEP_LOGS=DIR: the run's logs (agents, etcd, nginx) saved there, for a post-mortem.
	[[ -n ${LAB_KEEP_LOGS:-} && -n $LAB_DIR ]] && mkdir -p "$LAB_KEEP_LOGS" &&
		cp "$LAB_DIR"/*.log "$LAB_KEEP_LOGS/" 2>/dev/null
	[[ -n $LAB_DIR && -d $LAB_DIR ]] && rm -rf "$LAB_DIR"
	LAB_DIR=""
	# Run dirs of crashed runs of this prefix (nothing runs from them any more).
	for p in "${TMPDIR:-/tmp}/zdd-lab.$LAB_PREFIX."??????; do
		[[ -d $p ]] && rm -rf "$p"
	done
	LAB_OWNER=0

	for name in "${LAB_ROLES[@]}"; do
		_lab_ns_exists "$LAB_PREFIX-$name" && { echo "# lab: $LAB_PREFIX-$name remains" >&2; return 1; }
	done
	return 0
}

_lab_ns_init()
{
	local role=$1 ns
	ns=$(lab_ns "$role")
	_lab_do ip netns add "$ns" || return 1
	_lab_do ip -n "$ns" link set lo up || return 1
	# Before any link exists, so every link inherits: no DAD (addresses usable at once), no
	# autoconfiguration, no reverse-path filter (DSR replies leave from the VIP, which rtr
	# routes to lb).
	_lab_sysctl "$role" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
		net.ipv6.conf.default.autoconf=0 net.ipv4.conf.all.rp_filter=0 \
		net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.lo.rp_filter=0
}

_lab_up_links()
{
	local i name ns

	# client <-> rtr
	_lab_veth rtr "$LAB_RTR_CLIENT_DEV" client "$LAB_CLIENT_DEV" "$LAB_MTU_CLIENT" || return 1
	_lab_addr rtr "$LAB_RTR_CLIENT_DEV" "$LAB_RTR_CLIENT4/24" "$LAB_RTR_CLIENT6/64" || return 1
	_lab_addr client "$LAB_CLIENT_DEV" "$LAB_CLIENT4/24" "$LAB_CLIENT6/64" || return 1
	_lab_do ip -n "$LAB_NS_CLIENT" route add default via "$LAB_RTR_CLIENT4" || return 1
	_lab_do ip -n "$LAB_NS_CLIENT" -6 route add default via "$LAB_RTR_CLIENT6" || return 1
	# A veth with TX checksum offload sends partial checksums, which XDP forwarding loses.
	_lab_do ip netns exec "$LAB_NS_CLIENT" ethtool -K "$LAB_CLIENT_DEV" tx off || return 1

	# lb <-> rtr
	_lab_veth rtr "$LAB_RTR_LB_DEV" lb "$LAB_LB_DEV" "$LAB_MTU_LB" || return 1
	_lab_addr rtr "$LAB_RTR_LB_DEV" "$LAB_RTR_LB4/24" "$LAB_RTR_LB6/64" || return 1
	_lab_addr lb "$LAB_LB_DEV" "$LAB_LB4/24" "$LAB_LB6/64" || return 1
	_lab_do ip -n "$LAB_NS_LB" route add default via "$LAB_RTR_LB4" || return 1
	_lab_do ip -n "$LAB_NS_LB" -6 route add default via "$LAB_RTR_LB6" || return 1
	_lab_do ip -n "$LAB_NS_RTR" route add "$LAB_VIP4_NET" via "$LAB_LB4" || return 1
	_lab_do ip -n "$LAB_NS_RTR" -6 route add "$LAB_VIP6_NET" via "$LAB_LB6" || return 1

	# backends: one bridge in rtr, one veth per backend
	_lab_do ip -n "$LAB_NS_RTR" link add "$LAB_RTR_BRIDGE" mtu "$LAB_MTU_BACKEND" type bridge \
		stp_state 0 forward_delay 0 mcast_snooping 0 || return 1
	for i in "${!LAB_BACKENDS[@]}"; do
		name=${LAB_BACKENDS[i]}
		ns=$(lab_ns "$name")
		_lab_veth rtr "to-$name" "$name" "$LAB_BACKEND_DEV" "$LAB_MTU_BACKEND" || return 1
		_lab_do ip -n "$LAB_NS_RTR" link set "to-$name" master "$LAB_RTR_BRIDGE" || return 1
		_lab_addr "$name" "$LAB_BACKEND_DEV" "${LAB_BACKENDS4[i]}/24" "${LAB_BACKENDS6[i]}/64" ||
			return 1
		_lab_addr "$name" lo "$LAB_VIP4/32" "$LAB_VIP6/128" || return 1
		_lab_do ip -n "$ns" route add default via "$LAB_RTR_BE4" || return 1
		_lab_do ip -n "$ns" -6 route add default via "$LAB_RTR_BE6" || return 1
		# The VIP is on lo: never answer ARP for it on the wire (the usual DSR setting).
		_lab_sysctl "$name" net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
			"net.ipv4.conf.$LAB_BACKEND_DEV.rp_filter=0" || return 1
	done
	_lab_do ip -n "$LAB_NS_RTR" link set "$LAB_RTR_BRIDGE" mtu "$LAB_MTU_BACKEND" up || return 1
	_lab_addr rtr "$LAB_RTR_BRIDGE" "$LAB_RTR_BE4/24" "$LAB_RTR_BE6/64" || return 1

	_lab_sysctl rtr net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.send_redirects=0 net.ipv4.conf.default.send_redirects=0 \
		"net.ipv4.conf.$LAB_RTR_CLIENT_DEV.rp_filter=0" \
		"net.ipv4.conf.$LAB_RTR_LB_DEV.rp_filter=0" \
		"net.ipv4.conf.$LAB_RTR_BRIDGE.rp_filter=0" || return 1

	# The LB resolves its next hop from the neighbour table: make rtr's entries permanent.
	_lab_do ip -n "$LAB_NS_LB" neigh replace "$LAB_RTR_LB4" dev "$LAB_LB_DEV" nud permanent \
		lladdr "$(lab_mac rtr "$LAB_RTR_LB_DEV")" || return 1
	_lab_do ip -n "$LAB_NS_LB" -6 neigh replace "$LAB_RTR_LB6" dev "$LAB_LB_DEV" nud permanent \
		lladdr "$(lab_mac rtr "$LAB_RTR_LB_DEV")" || return 1
}

# lab_up: tear down any leftover lab of this prefix, then build the topology, attach the
# pass-through XDP program on rtr's side of the lb link and start nginx on every backend.
lab_up()
{
	local role name

	lab_require
	lab_down >/dev/null 2>&1 || { echo "# lab: cannot clear a leftover $LAB_PREFIX lab" >&2; return 1; }
	lab_trap
	LAB_OWNER=1
	LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/zdd-lab.$LAB_PREFIX.XXXXXX") || return 1
	chmod 755 "$LAB_DIR"

	for role in "${LAB_ROLES[@]}"; do
		_lab_ns_init "$role" || return 1
	done
	_lab_up_links || return 1
	if [[ $LAB_XDP_PASS == 1 ]]; then
		lab_xdp_pass rtr "$LAB_RTR_LB_DEV" || return 1
	fi
	LAB_NGINX_CODE=() LAB_APP_ERROR_PCT=() LAB_APP_DELAY_MS=()
	for name in "${LAB_BACKENDS[@]}"; do
		_lab_nginx_conf "$name" 200 && lab_backend_start "$name" || return 1
	done
}

# --- zdd in the lab ----------------------------------------------------------------------------

LAB_BPFCTL=${LAB_BPFCTL:-$LAB_OUT/zdd-bpfctl}

# zdd-bpfctl in the lb namespace, on this lab's pins (nsenter keeps bpffs visible).
lab_ctl() { lab_nsenter lb "$LAB_BPFCTL" -p "$LAB_PIN_DIR/lb" "$@"; }
# zdd-bpfctl in a backend namespace, on that backend's pins.
lab_ctl_on() { local ns=$1; shift; lab_nsenter "$ns" "$LAB_BPFCTL" -p "$LAB_PIN_DIR/$ns" "$@"; }
# lab_config: what the operator set in the lb's maps, from `status -j`, counters left out. An
# allow-list: a counter added to status later must not make "unchanged" comparisons flaky.
lab_config()
{
	lab_ctl -j status | jq -S '.services | map({service, generation, affinity, green_weight_pct,
		backends: (.backends | map({address, pool, state, weight}))})'
}

# lab_decap_attach NAME [ARGS...]: zdd_decap on backend NAME, taking tunnels from the lb's
# addresses only (LAB_DECAP_FROM: more prefixes, such as other edge nodes'). Extra arguments go
# to `decap attach`.
lab_decap_attach()
{
	local b=$1 p
	local -a from=(--from "$LAB_LB4" --from "$LAB_LB6")
	shift
	for p in ${LAB_DECAP_FROM:-}; do
		from+=(--from "$p")
	done
	lab_ctl_on "$b" decap attach "$LAB_BACKEND_DEV" "${from[@]}" "$@"
}

# Decap on every backend, the LB attached, and both services (IPv4 and IPv6) with two blue and
# two green backends, all new flows on blue. Extra arguments go to `attach`.
lab_zdd_up()
{
	local i svc
	[[ -x $LAB_BPFCTL ]] || { echo "# lab: $LAB_BPFCTL not built" >&2; return 1; }
	for i in "${LAB_BACKENDS[@]}"; do
		lab_decap_attach "$i" >/dev/null || return 1
	done
	lab_ctl attach "$LAB_LB_DEV" "$@" >/dev/null || return 1
	for svc in "$LAB_SVC4" "$LAB_SVC6"; do
		lab_ctl service add "$svc" >/dev/null || return 1
	done
	for i in "${!LAB_BACKENDS[@]}"; do
		lab_ctl backend add "$LAB_SVC4" "${LAB_BACKENDS4[i]}" \
			--pool "$(lab_pool "${LAB_BACKENDS[i]}")" >/dev/null || return 1
		lab_ctl backend add "$LAB_SVC6" "${LAB_BACKENDS6[i]}" \
			--pool "$(lab_pool "${LAB_BACKENDS[i]}")" >/dev/null || return 1
	done
}

# lab_clients_add N: N more client addresses (198.18.1.100 on) on the client's interface, in
# LAB_CLIENTS. The split is per client address, so canaries need many of them to show.
lab_clients_add()
{
	local i batch=""
	LAB_CLIENTS=()
	for ((i = 0; i < $1; i++)); do
		LAB_CLIENTS+=("198.18.1.$((100 + i))")
		batch+="addr add ${LAB_CLIENTS[i]}/32 dev $LAB_CLIENT_DEV"$'\n'
	done
	ip -n "$LAB_NS_CLIENT" -batch - <<<"$batch"
}

# lab_load SECS CONC FILE [RATE]: zdd-httpload in the client namespace for SECS seconds, CONC
# connections in flight, each request on a new connection from the next address of
# LAB_CLIENTS, at most RATE requests a second (default 1000: load without starving the lab).
# FILE gets one line per request: "MS ADDR NAME COLOUR" or "MS ADDR FAIL:KIND" (MS: wall-clock
# milliseconds at completion). Runs in the background; lab_load_collect waits for it.
lab_load()
{
	local secs=$1 conc=$2 file=$3 rate=${4:-1000}
	printf '%s\n' "${LAB_CLIENTS[@]}" >"$file.sources"
	lab_exec client "$LAB_OUT/zdd-httpload" -u "$(lab_url "$LAB_VIP4")" -S "$file.sources" \
		-c "$conc" -d "$secs" -r "$rate" -t 2000 -o "$file" >"$file.summary" 2>&1 &
	LAB_LOAD_PIDS=($!)
}

# lab_load_realistic SECS FILE RATE [ARGS...]: the world's traffic instead of a metronome, for
# SECS seconds from LAB_CLIENTS: new connections arrive at random (Poisson) at a mean RATE a
# second, each from a random client address; each is a keep-alive session of a random number of
# requests (mean 4, so a quarter are one-shot) with random think times (mean 300 ms) between
# them, and 3% of the sessions abort with a RST after their last answer. ARGS go to zdd-httpload
# after these, so they override them (-R SEED replays a run). FILE and the background run as
# with lab_load; FILE.summary ends with the arrivals, the RST closers and the seed.
lab_load_realistic()
{
	local secs=$1 file=$2 rate=$3
	shift 3
	printf '%s\n' "${LAB_CLIENTS[@]}" >"$file.sources"
	lab_exec client "$LAB_OUT/zdd-httpload" -u "$(lab_url "$LAB_VIP4")" -S "$file.sources" \
		-P -r "$rate" -n 4 -T 300 -x 3 -c 2048 -d "$secs" -t 2000 -o "$file" "$@" \
		>"$file.summary" 2>&1 &
	LAB_LOAD_PIDS=($!)
}

# lab_load_collect FILE: waits for the load and sorts FILE by time.
lab_load_collect()
{
	wait "${LAB_LOAD_PIDS[@]}"
	sort -n -o "$1" "$1"
}

# lab_load_stop FILE: ends the load now, as its -d would (sessions close as they would have),
# then lab_load_collect FILE: for a case that has its answer before the load's time is up.
lab_load_stop()
{
	local p
	for p in "${LAB_LOAD_PIDS[@]}"; do pkill -TERM -P "$p"; done
	lab_load_collect "$1"
}

# lab_agent_conf FILE [INTERVAL]: a zdd.yaml for the lab: both services, HTTP health checks,
# rollouts with INTERVAL (default 2s) per step; sockets and state under this run's LAB_DIR.
# With LAB_ANNOUNCE=DEV, the agent keeps the service addresses on the dummy interface DEV; with
# LAB_ROLLOUT_EXTRA="KEY: VALUE, ...", the rollout sections get those keys too.
lab_agent_conf()
{
	local file=$1 interval=${2:-2s} svc i
	{
		printf 'agent:\n  interface: %s\n  pin_dir: %s\n' "$LAB_LB_DEV" "$LAB_PIN_DIR/lb"
		printf '  metrics: 127.0.0.1:9334\n  control_socket: %s\n  state_file: %s\n' \
			"$LAB_DIR/agent.sock" "$LAB_DIR/agent-state.json"
		[[ -z ${LAB_ANNOUNCE:-} ]] || printf '  announce_interface: %s\n' "$LAB_ANNOUNCE"
		printf 'services:\n'
		for svc in "$LAB_SVC4" "$LAB_SVC6"; do
			printf '  - service: "%s"\n    green_weight: 0\n    backends:\n' "$svc"
			for i in "${!LAB_BACKENDS[@]}"; do
				if [[ $svc == "$LAB_SVC4" ]]; then
					printf '      - { address: %s, pool: %s }\n' "${LAB_BACKENDS4[i]}" \
						"$(lab_pool "${LAB_BACKENDS[i]}")"
				else
					printf '      - { address: %s, pool: %s }\n' "${LAB_BACKENDS6[i]}" \
						"$(lab_pool "${LAB_BACKENDS[i]}")"
				fi
			done
			printf '    health_check: { type: http, path: /health, interval: 500ms, '
			printf 'timeout: 300ms, rise: 2, fall: 2 }\n'
			printf '    rollout: { steps: [10, 50, 100], interval: %s%s }\n' "$interval" \
				"${LAB_ROLLOUT_EXTRA:+, $LAB_ROLLOUT_EXTRA}"
		done
	} >"$file"
}

# lab_agent_start CONF [ARGS...]: zdd-agent in the lb namespace, log in $LAB_DIR/agent.log;
# waits (bounded) for its control socket. LAB_AGENT_PID is set.
lab_agent_start()
{
	local conf=$1 i
	shift
	rm -f "$LAB_DIR/agent.sock"	# a killed agent's: wait for the new one's
	# Not through lab_nsenter: a function in the background is a subshell, and its pid would
	# not be the agent's. nsenter execs the agent in place.
	nsenter --net="/run/netns/$LAB_NS_LB" -- "$LAB_OUT/zdd-agent" -c "$conf" "$@" \
		>>"$LAB_DIR/agent.log" 2>&1 &
	LAB_AGENT_PID=$!
	lab_defer kill -TERM "$LAB_AGENT_PID"
	for ((i = 0; i < 50; i++)); do
		[[ -S $LAB_DIR/agent.sock ]] && return 0
		kill -0 "$LAB_AGENT_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "# lab: zdd-agent did not start:" >&2
	sed 's/^/#   /' "$LAB_DIR/agent.log" >&2
	return 1
}

# zdd-bpfctl rollout against the lab's agent.
lab_rollout() { lab_ctl rollout --socket "$LAB_DIR/agent.sock" "$@"; }

# lab_rollout_json SVC: the agent's status of SVC's rollout, as JSON.
lab_rollout_json()
{
	lab_rollout -j status | jq -c --arg s "$1" '.rollouts[] | select(.service == $s)'
}

# lab_wait_state SVC STATE SECS: until SVC's rollout is in STATE, at most SECS seconds.
lab_wait_state()
{
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		[[ $(lab_rollout_json "$1" | jq -r .state) == "$2" ]] && return 0
		sleep 0.1
	done
	echo "# $1: $(lab_rollout_json "$1" | jq -r '.state + ": " + .event')"
	return 1
}

# lab_agent_log_ms PATTERN [LINE]: the wall-clock ms of the agent's first log line matching
# PATTERN after line LINE (default 0), or nothing.
lab_agent_log_ms()
{
	local at
	at=$(tail -n +"$((${2:-0} + 1))" "$LAB_DIR/agent.log" | grep -m1 -- "$1" | cut -d' ' -f1)
	[[ -n $at ]] && date -d "today $at" +%s%3N
}

# --- application metrics: nginx access logs -> mtail -> Prometheus ------------------------------
#
# lab_appmetrics_up turns the backends' access logs on and runs, in each backend's namespace, an
# mtail (nginx.mtail: http_requests_total{code}, http_request_duration_seconds) on its address,
# and a Prometheus (prom.sh) in the lb namespace, next to zdd-agent, scraping every second each
# mtail (job "app", with the labels pool, backend and service) and the agent's /metrics (job
# "zdd"). The agent reaches it at LAB_PROM_URL. lab_down stops them (lab_defer).

# shellcheck source=tests/integration/prom.sh
source "$LAB_LIB_DIR/prom.sh"

LAB_MTAIL_PROG=${LAB_MTAIL_PROG:-$LAB_LIB_DIR/nginx.mtail}
LAB_MTAIL_PORT=${LAB_MTAIL_PORT:-3903}
# mtail reads a log every poll; at the default 250 ms a line may wait that long before a scrape.
LAB_MTAIL_POLL=${LAB_MTAIL_POLL:-100ms}
LAB_AGENT_METRICS=127.0.0.1:9334	# zdd-agent's /metrics, as lab_agent_conf writes it
LAB_APPMETRICS_TIMEOUT=${LAB_APPMETRICS_TIMEOUT:-30}	# s until every target is up
LAB_PROM_URL=""				# http://127.0.0.1:PORT, in the lb namespace
declare -gA LAB_MTAIL_PID=()

# _lab_appmetrics_scrape: the job "app" of the Prometheus config, one target per backend.
_lab_appmetrics_scrape()
{
	local i name
	printf '  - job_name: app\n    metrics_path: /metrics\n    static_configs:\n'
	for i in "${!LAB_BACKENDS[@]}"; do
		name=${LAB_BACKENDS[i]}
		printf "      - targets: ['%s:%s']\n" "${LAB_BACKENDS4[i]}" "$LAB_MTAIL_PORT"
		printf "        labels: { pool: %s, backend: %s, service: '%s' }\n" \
			"$(lab_pool "$name")" "$name" "$LAB_SVC4"
	done
}

# _lab_mtail_start NAME: mtail in NAME's namespace on its address, reading lines added to its
# access log from now on; log in $LAB_DIR/NAME/mtail.log.
_lab_mtail_start()
{
	local name=$1 d="$LAB_DIR/$1"
	: >>"$d/access.log" || return 1	# mtail follows the files that exist when it starts
	# Not through lab_exec: $! of a function in the background would be a subshell's.
	ip netns exec "$(lab_ns "$name")" mtail --progs "$LAB_DIR/mtail" --logs "$d/access.log" \
		--address "$(lab_addr4 "$name")" --port "$LAB_MTAIL_PORT" \
		--poll_interval "$LAB_MTAIL_POLL" --emit_prog_label=false --logtostderr \
		</dev/null >>"$d/mtail.log" 2>&1 &
	LAB_MTAIL_PID[$name]=$!
}

# lab_appmetrics_up: access logs, mtail on every backend, Prometheus; returns once Prometheus
# has every mtail up (and the agent, when LAB_AGENT_PID runs), or 1 within
# LAB_APPMETRICS_TIMEOUT seconds with the targets' state on stderr. Sets LAB_PROM_URL.
lab_appmetrics_up()
{
	local name cmd want got="" deadline

	((LAB_OWNER)) || { echo "# lab: lab_appmetrics_up before lab_up" >&2; return 1; }
	for cmd in mtail prometheus; do
		command -v "$cmd" >/dev/null 2>&1 ||
			{ echo "# lab: $cmd not installed" >&2; return 1; }
	done
	mkdir -p "$LAB_DIR/mtail" && cp "$LAB_MTAIL_PROG" "$LAB_DIR/mtail/" || return 1
	lab_defer lab_appmetrics_down
	# Prometheus first: it scrapes a new target only at its next target update, up to 5 s
	# after it starts (a fixed period in Prometheus), while the rest gets ready.
	PROM_NETNS=$LAB_NS_LB
	PROM_TMPDIR=$LAB_DIR PROM_SCRAPE_EXTRA=$(_lab_appmetrics_scrape) \
		prom_start "$LAB_AGENT_METRICS" || return 1
	LAB_PROM_URL=$PROM_URL
	if ((!LAB_ACCESS_LOG)); then
		LAB_ACCESS_LOG=1
		for name in "${LAB_BACKENDS[@]}"; do
			_lab_nginx_conf "$name" "${LAB_NGINX_CODE[$name]:-200}" &&
				_lab_nginx_reload "$name" || return 1
		done
	fi
	for name in "${LAB_BACKENDS[@]}"; do
		_lab_mtail_start "$name" || return 1
	done

	want="count(up{job=\"app\"} == 1) == ${#LAB_BACKENDS[@]}"
	if [[ -n ${LAB_AGENT_PID:-} ]] && _lab_alive "$LAB_AGENT_PID"; then
		want+=' and on() up{job="zdd"} == 1'
	fi
	deadline=$((SECONDS + LAB_APPMETRICS_TIMEOUT))
	while ((SECONDS < deadline)); do
		got=$(prom_query "$want" 2>/dev/null)
		[[ -n $got ]] && return 0
		for name in "${!LAB_MTAIL_PID[@]}"; do
			_lab_alive "${LAB_MTAIL_PID[$name]}" && continue
			echo "# lab: mtail on $name exited:" >&2
			tail -n 5 "$LAB_DIR/$name/mtail.log" | sed 's/^/#   /' >&2
			return 1
		done
		sleep 0.25
	done
	echo "# lab: not every target up after ${LAB_APPMETRICS_TIMEOUT}s ($want):" >&2
	_prom_ns curl -sS --noproxy '*' --max-time 2 "$LAB_PROM_URL/api/v1/targets" 2>&1 |
		grep -o '"\(scrapeUrl\|health\|lastError\)":"[^"]*"' | paste - - - |
		sed 's/^/#   /' >&2
	return 1
}

# lab_appmetrics_down: stops Prometheus and every mtail. Idempotent; lab_down runs it.
lab_appmetrics_down()
{
	local name pids=()
	prom_stop
	LAB_PROM_URL=""
	for name in "${!LAB_MTAIL_PID[@]}"; do
		pids+=("${LAB_MTAIL_PID[$name]}")
	done
	_lab_kill_wait TERM "${pids[@]}"
	LAB_MTAIL_PID=()
}
