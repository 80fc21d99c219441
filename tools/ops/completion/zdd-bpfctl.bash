# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
# tools/ops/completion/zdd-bpfctl.bash - bash completion for zdd-bpfctl, installed as
# $(PREFIX)/share/bash-completion/completions/zdd-bpfctl. Commands, verbs, options and option
# values are read from the program's own usage lines (`zdd-bpfctl --help`, `zdd-bpfctl CMD
# --help`), so a new command or option completes without a change here. Services come from
# `zdd-bpfctl service list` and backends from `backend list SVC` (root: they read the pins),
# interfaces from /sys/class/net. Needs no bash-completion helper.

_zdd_bpfctl_pin=() # -p DIR of the line being completed

# _zdd_bpfctl_add CUR WORD...: the WORDs that start with CUR go into COMPREPLY.
_zdd_bpfctl_add()
{
	local cur=$1 w
	shift
	for w in "$@"; do
		[[ $w == "$cur"* ]] && COMPREPLY+=("$w")
	done
}

# The text after "Usage: zdd-bpfctl CMD " of `zdd-bpfctl CMD --help`.
_zdd_bpfctl_usage()
{
	local line
	line=$("$1" "$2" --help 2>/dev/null | head -n 1)
	[[ $line == "Usage: "* ]] || return 1
	line=${line#Usage: }
	line=${line#* }
	line=${line#"$2"}
	printf '%s\n' "${line# }"
}

# _zdd_bpfctl_value CUR SPEC BIN CMD ARGS...: complete one value described by SPEC, an
# alternative list (blue|green) or a placeholder (SVC, ADDR, IFACE, FILE, PATH, DIR). Others
# complete nothing: PREFIX (decap attach --from) names balancers a backend cannot know.
_zdd_bpfctl_value()
{
	local cur=$1 spec=$2 bin=$3 cmd=$4 svc w
	shift 4
	local -a alts
	if [[ $spec =~ ^[a-z]+(\|[a-z]+)+$ ]]; then
		IFS='|' read -ra alts <<<"$spec"
		_zdd_bpfctl_add "$cur" "${alts[@]}"
		return
	fi
	case $spec in
	SVC)
		mapfile -t alts < <("$bin" "${_zdd_bpfctl_pin[@]}" service list 2>/dev/null)
		_zdd_bpfctl_add "$cur" "${alts[@]}"
		;;
	ADDR)
		# The backends of the service named before, for backend del and set.
		[[ $cmd == backend ]] || return
		for w in "$@"; do
			[[ $w == *:*/* ]] && { svc=$w; break; }
		done
		[[ -n ${svc:-} ]] || return
		mapfile -t alts < <("$bin" "${_zdd_bpfctl_pin[@]}" backend list "$svc" 2>/dev/null |
			awk '{ print $2 }')
		_zdd_bpfctl_add "$cur" "${alts[@]}"
		;;
	IFACE)
		alts=()
		for w in /sys/class/net/*; do
			[[ -e $w ]] && alts+=("${w##*/}")
		done
		_zdd_bpfctl_add "$cur" "${alts[@]}"
		;;
	FILE | PATH)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		;;
	DIR)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
		;;
	[a-z]*=*)
		_zdd_bpfctl_add "$cur" "${spec%%=*}="
		compopt -o nospace 2>/dev/null
		;;
	esac
}

_zdd_bpfctl()
{
	local bin=${COMP_WORDS[0]} line=${COMP_LINE:0:COMP_POINT} cur prev i cmd="" usage
	local seg verb want nargs tok j opt_has_value tail=""
	local -a words args segs toks opts places
	local -A optval=()
	COMPREPLY=()
	_zdd_bpfctl_pin=()
	# Our own split on blanks: COMP_WORDS breaks 198.19.0.10:80/tcp at every colon.
	read -ra words <<<"$line"
	[[ ${#words[@]} -eq 0 || $line == *[[:blank:]] ]] && words+=("")
	cur=${words[-1]}
	prev=""
	((${#words[@]} > 1)) && prev=${words[-2]}
	command -v "$bin" >/dev/null 2>&1 || bin=zdd-bpfctl

	for ((i = 1; i < ${#words[@]} - 1; i++)); do
		case ${words[i]} in
		-p | --pin-dir)
			((i + 1 < ${#words[@]} - 1)) && _zdd_bpfctl_pin=(-p "${words[i + 1]}")
			((i++))
			;;
		-*) ;;
		*)
			cmd=${words[i]}
			break
			;;
		esac
	done

	if [[ -z $cmd ]]; then
		if [[ $prev == -p || $prev == --pin-dir ]]; then
			_zdd_bpfctl_value "$cur" DIR "$bin" ""
		elif [[ $cur == -* ]]; then
			_zdd_bpfctl_add "$cur" -p --pin-dir -j --json -v --verbose -h --help
		else
			mapfile -t args < <("$bin" --help 2>/dev/null |
				sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p')
			_zdd_bpfctl_add "$cur" "${args[@]}"
		fi
		_zdd_bpfctl_trim "$cur"
		return 0
	fi

	args=("${words[@]:i+1}")
	unset 'args[${#args[@]}-1]' # the word being completed
	usage=$(_zdd_bpfctl_usage "$bin" "$cmd") || return 0

	# Segments of the usage: "add SVC [--x V] | del SVC | list". Text after two blanks
	# ("  [--socket PATH]") holds options common to every segment.
	if [[ $usage == *"  "* ]]; then
		tail=${usage#*"  "}
		usage=${usage%%"  "*}
	fi
	segs=()
	while [[ $usage == *" | "* ]]; do
		segs+=("${usage%%" | "*}")
		usage=${usage#*" | "}
	done
	segs+=("$usage")

	# The segment: chosen by the verb (the first positional word) when segments start with
	# lowercase verbs, else the only one.
	seg=${segs[0]}
	verb=""
	if [[ ${segs[0]} =~ ^[a-z]+(\|[a-z]+)*( |$) ]]; then
		verb=yes
		for tok in "${args[@]}"; do
			[[ $tok == -* ]] && continue
			for j in "${segs[@]}"; do
				[[ "|${j%% *}|" == *"|$tok|"* ]] && { seg=$j; verb=$tok; }
			done
			break
		done
	fi

	# Options (and what follows each) of the segment and the common tail.
	read -ra toks <<<"${seg//[][]/} ${tail//[][]/}"
	opts=(--help -j --json -v --verbose)
	places=()
	for ((j = 0; j < ${#toks[@]}; j++)); do
		tok=${toks[j]}
		if [[ $tok == -* ]]; then
			opts+=("$tok")
			if ((j + 1 < ${#toks[@]})) && [[ ${toks[j + 1]} != -* ]]; then
				optval[$tok]=${toks[j + 1]}
				((j++))
			fi
		elif ((j > 0)) || [[ $verb == "" ]]; then
			places+=("$tok")
		fi
	done

	# A value for the option just typed.
	if [[ -n ${optval[$prev]:-} ]]; then
		_zdd_bpfctl_value "$cur" "${optval[$prev]}" "$bin" "$cmd" "${args[@]}"
		_zdd_bpfctl_trim "$cur"
		return 0
	fi
	if [[ $cur == -* ]]; then
		_zdd_bpfctl_add "$cur" "${opts[@]}"
		return 0
	fi

	# Positional words typed so far (option values skipped).
	nargs=0
	for ((j = 0; j < ${#args[@]}; j++)); do
		tok=${args[j]}
		opt_has_value=${optval[$tok]:-}
		if [[ $tok == -* ]]; then
			[[ -n $opt_has_value ]] && ((j++))
			continue
		fi
		((nargs++))
	done
	if [[ -n $verb ]]; then
		if ((nargs == 0)); then
			for j in "${segs[@]}"; do
				IFS='|' read -ra toks <<<"${j%% *}"
				_zdd_bpfctl_add "$cur" "${toks[@]}"
			done
			return 0
		fi
		((nargs--))
	fi
	want=${places[nargs]:-}
	if [[ -n $want ]]; then
		_zdd_bpfctl_value "$cur" "$want" "$bin" "$cmd" "${args[@]}"
	else
		_zdd_bpfctl_add "$cur" "${opts[@]}"
	fi
	_zdd_bpfctl_trim "$cur"
	return 0
}

# Bash replaces only the text after the last word break (COMP_WORDBREAKS, ':' and '=' by
# default) of the word: the replies lose what comes before it.
_zdd_bpfctl_trim()
{
	local cur=$1 breaks="" head i
	[[ ${COMP_WORDBREAKS-} == *:* ]] && breaks+=":"
	[[ ${COMP_WORDBREAKS-} == *=* ]] && breaks+="="
	[[ -n $breaks && $cur == *["$breaks"]* ]] || return 0
	head=${cur%"${cur##*["$breaks"]}"}
	for i in "${!COMPREPLY[@]}"; do
		COMPREPLY[i]=${COMPREPLY[i]#"$head"}
	done
}

complete -F _zdd_bpfctl zdd-bpfctl
