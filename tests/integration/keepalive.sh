#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# tests/integration/keepalive.sh ADDR PORT COUNT INTERVAL - one long-lived HTTP/1.1 connection:
# COUNT requests, INTERVAL seconds apart, on the same TCP connection. Prints one line per
# request: the body (the backend's "NAME COLOUR"), or ERR when no full answer came in 3 s.
# Run it inside the client's namespace. Bounded: at most COUNT * (INTERVAL + 6) seconds.
set -u
addr=$1 port=$2 count=$3 interval=$4
host=$addr
[[ $addr == *:* ]] && host="[$addr]"

if ! exec 3<>"/dev/tcp/$addr/$port"; then
	for ((i = 0; i < count; i++)); do echo ERR; done
	exit 1
fi
failed=0
for ((i = 0; i < count; i++)); do
	if ! printf 'GET / HTTP/1.1\r\nHost: %s\r\n\r\n' "$host" >&3 2>/dev/null; then
		echo ERR
		failed=1
		continue
	fi
	len=0 status=""
	while IFS= read -r -t 3 line <&3; do
		line=${line%$'\r'}
		[[ -z $status ]] && status=$line
		[[ -z $line ]] && break
		[[ ${line,,} == content-length:* ]] && len=${line#*: }
	done
	body=""
	if [[ $status == "HTTP/1.1 200"* && $len -gt 0 ]] && IFS= read -r -t 3 -N "$len" body <&3; then
		echo "${body%$'\n'}"
	else
		echo ERR
		failed=1
	fi
	sleep "$interval"
done
exec 3>&-
exit "$failed"
