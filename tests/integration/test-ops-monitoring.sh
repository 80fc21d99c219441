#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/test-ops-monitoring.sh - the Grafana dashboard and the Prometheus rules of
# tools/ops: valid JSON and YAML, every query valid PromQL, every metric, label and label value
# one that zdd-agent exports (userspace/agent/metrics.c, the reasons of zdd_abi.h, the rollout
# states), the panels and alerts the operators need, and the alerts' unit tests
# (promtool test rules).
# shellcheck disable=SC2317 # the check functions run through tap_check
set -uo pipefail

# shellcheck source=tests/integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_require_cmd jq promtool
tap_plan 13

OPS="$LAB_ROOT/tools/ops"
DASH="$OPS/grafana/zdd-dashboard.json"
RULES="$OPS/prometheus/zdd-alerts.yml"
METRICS_C="$LAB_ROOT/userspace/agent/metrics.c"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/zdd-ops-mon.XXXXXX") || tap_bail "mktemp"
trap 'rm -rf "$TMP"' EXIT

# What the agent exports: metric names, labels, and the values of reason and state.
EXPORTED=$(grep -o '"zdd_[a-z_]*"' "$METRICS_C" | tr -d '"' | sort -u)
# Label names: { "service", ... } in the label tables, l.name = "reason"; plus Prometheus' own.
LABELS="instance job $(grep -oE '(\{ "|name = ")[a-z_]+"' "$METRICS_C" |
	sed -E 's/^(\{ "|name = ")//; s/"$//' | grep -v '^zdd_' | sort -u | tr '\n' ' ')"
REASONS=$(grep -o 'X([A-Z0-9_]*, "[a-z_]*"' "$LAB_ROOT/bpf/abi/zdd_abi.h" | sed 's/.*"\(.*\)"/\1/')
STATES=$(sed -n '/zdd_rollout_states\[.*\] = {/,/};/p' "$LAB_ROOT/userspace/agent/rollout.c" |
	grep -o '"[a-z_]*"' | tr -d '"')
[[ $LABELS == *" service "* && $LABELS == *" state "* ]] || tap_bail "cannot read the labels of $METRICS_C: $LABELS"

# Every PromQL expression of the dashboard: panel targets, annotations, variable queries.
dash_exprs() { jq -r '[.. | objects | .expr? // empty] + [.templating.list[].query.query? // empty] | .[]' "$DASH"; }
# Those of the rules file, one per line.
rule_exprs() { promtool check rules "$RULES" >/dev/null && sed -n 's/^ *expr: //p' "$RULES" | grep -v '^|'; }

# uses_exported FILE: every zdd_* name in FILE is a metric the agent exports (recording rules,
# zdd:..., are the rules file's own).
uses_exported()
{
	local m bad=0
	while read -r m; do
		grep -qx "$m" <<<"$EXPORTED" || { echo "$m is not exported by zdd-agent"; bad=1; }
	done < <(grep -o 'zdd_[a-z_]*' "$1" | sort -u)
	return "$bad"
}

# vocabulary FILE: labels, reasons and states all known.
vocabulary() { labels_known "$1" && values_known "$1"; }

# labels_known FILE: the labels in by (...), on (...) and matchers are the agent's (+ Prometheus').
labels_known()
{
	local l bad=0
	for l in $(grep -oE '(by|on|without) \([a-z_, ]*\)' "$1" | sed 's/.*(\(.*\))/\1/' | tr ',' ' ') \
		$(grep -oE '[{,] *[a-z_]+ *=~?"' "$1" | tr -d '{,=~" '); do
		[[ " $LABELS " == *" $l "* ]] || { echo "label '$l' is not exported"; bad=1; }
	done
	return "$bad"
}

# values_known FILE: reason="..." and state="..." name values the agent exports.
values_known()
{
	local v bad=0
	while read -r v; do
		grep -qx "$v" <<<"$REASONS" || { echo "reason '$v' does not exist"; bad=1; }
	done < <(grep -oE 'reason=~?"[a-z_]+"' "$1" | sed 's/.*"\(.*\)"/\1/')
	while read -r v; do
		grep -qx "$v" <<<"$STATES" || { echo "state '$v' does not exist"; bad=1; }
	done < <(grep -oE 'state=~?"[a-z_]+"' "$1" | sed 's/.*"\(.*\)"/\1/')
	return "$bad"
}

# --- the dashboard -----------------------------------------------------------------------------

dash_exprs >"$TMP/dash.promql" 2>/dev/null

panels_sound()
{
	jq -e '
		([.panels[].id] | length == (unique | length))
		and all(.panels[]; .gridPos.w > 0 and .gridPos.h > 0 and .gridPos.x + .gridPos.w <= 24)
		and all(.panels[] | select(.type != "row");
			(.targets | length > 0)
			and all(.targets[]; (.expr | length > 0) and .datasource.uid == "${datasource}")
			and .datasource.uid == "${datasource}")
		and ([.templating.list[].name] | index("datasource") != null)
		and .uid == "zdd-overview"' "$DASH" >/dev/null
}

# Grafana's variables replaced by values, each expression becomes a recording rule: promtool
# parses them all.
dash_promql_valid()
{
	local i=0 e
	{
		printf 'groups:\n  - name: dashboard\n    rules:\n'
		while IFS= read -r e; do
			e=${e//\$__rate_interval/1m}
			e=${e//\$__range/1h}
			e=${e//\$__interval/1m}
			e=${e//\$instance/.*}
			e=${e//\$service/.*}
			[[ $e == label_values\(* ]] && e=${e#label_values(} && e=${e%, *)}
			printf '      - record: dashboard:q%d\n        expr: %s\n' "$((i++))" "$(jq -Rn --arg e "$e" '$e')"
		done <"$TMP/dash.promql"
	} >"$TMP/dash-rules.yml"
	((i >= 15)) || { echo "only $i queries"; return 1; }
	promtool check rules "$TMP/dash-rules.yml"
}

# The panels the operators asked for: the split, per-backend flows and failures, rollouts.
dash_covers()
{
	local m bad=0
	for m in zdd_service_weight zdd_backend_flows_new_total zdd_backend_flows_established_total \
		zdd_backend_up zdd_rollout_step zdd_rollout_state zdd_rollbacks_total; do
		grep -q "$m" "$TMP/dash.promql" || { echo "no query on $m"; bad=1; }
	done
	for m in $EXPORTED; do
		grep -q "$m" "$TMP/dash.promql" || echo "note: $m not on the dashboard"
	done
	return "$bad"
}

tap_check "the dashboard is valid JSON" jq -e '.panels | length > 10' "$DASH"
tap_check "panels: unique ids, on the grid, each with queries on the \${datasource} variable" panels_sound
tap_check "every dashboard query is valid PromQL" dash_promql_valid
tap_check "the dashboard uses only metrics zdd-agent exports" uses_exported "$TMP/dash.promql"
tap_check "... only its labels, reasons and rollout states" vocabulary "$TMP/dash.promql"
tap_check "the dashboard shows the split, per-backend flows and failures, rollouts, rollbacks" dash_covers

# --- the alerting rules ------------------------------------------------------------------------

rule_exprs >"$TMP/rules.promql" 2>/dev/null
sed -n '/^ *expr: |/,/^ *[a-z_]*:/p' "$RULES" >>"$TMP/rules.promql"

alerts_present()
{
	local a bad=0
	for a in ZddRollback ZddPoolFailureRatioHigh ZddBackendDown ZddAgentDown; do
		grep -q "^ *- alert: $a$" "$RULES" || { echo "no alert $a"; bad=1; }
	done
	return "$bad"
}

# Every alert has a severity and a summary; promtool test rules covers at least four of them.
alerts_documented_and_tested()
{
	local n tested
	n=$(grep -c '^ *- alert: ' "$RULES")
	[[ $(grep -c '^ *severity: ' "$RULES") -eq $n && $(grep -c '^ *summary: ' "$RULES") -eq $n ]] ||
		{ echo "$n alerts, not all with severity and summary"; return 1; }
	tested=$(grep -o 'alertname: [A-Za-z]*' "$OPS/prometheus/zdd-alerts.test.yml" | sort -u | wc -l)
	((tested >= 4)) || { echo "$tested alerts unit-tested"; return 1; }
}

tap_check "promtool check rules" promtool check rules "$RULES"
tap_check "promtool test rules (zdd-alerts.test.yml)" promtool test rules "$OPS/prometheus/zdd-alerts.test.yml"
tap_check "promtool check config (the scrape job and its rule file)" promtool check config "$OPS/prometheus/prometheus.yml"
tap_check "the rules use only metrics zdd-agent exports" uses_exported "$TMP/rules.promql"
tap_check "... only its labels, reasons and rollout states" vocabulary "$TMP/rules.promql"
tap_check "alerts: rollback, failure ratio, backend down, agent down" alerts_present
tap_check "every alert has a severity and a summary; four or more are unit-tested" alerts_documented_and_tested
tap_done
