#!/bin/sh
# bench/inventory_scale.sh [HOSTS] [CONFIG_LINES]: how long fleetctl takes to load an inventory of HOSTS
# terminals (one range) and resolve every one of them against a generated ssh_config of about
# CONFIG_LINES lines (issue: 10,000 hosts against 500 lines must cost well under a second).
# Prints wall time, user CPU and peak RSS of `fleetctl hosts` (median of 5), which loads, resolves
# and selects but connects to nothing.
set -eu
hosts=${1:-10000}
lines=${2:-500}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLEETCTL:-$top/fleetctl}
[ -x "$bin" ] || { echo "build fleetctl first (make fleetctl)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/fleetctl-invbench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
blocks=$(( (lines - 4) / 5 ))
{
	i=1
	while [ "$i" -le "$blocks" ]; do
		printf 'Host site%d-*\n  HostName 10.%d.%d.1\n  User svc%d\n  Port %d\n\n' "$i" $((i / 250)) $((i % 250)) "$i" $((2000 + i))
		i=$((i + 1))
	done
	printf 'Host k*\n  User kiosk\n  IdentityFile ~/.ssh/id_ed25519\n  ConnectTimeout 7\n'
} > "$tmp/ssh_config"
width=${#hosts}
printf '[fleet]\nssh_config = %s\n[group:k]\nhosts = k[%0*d:%d]\n' "$tmp/ssh_config" "$width" 1 "$hosts" > "$tmp/fleet.ini"
: > "$tmp/times"
for run in 1 2 3 4 5; do
	/usr/bin/time -f '%e %U %M' -o "$tmp/t" "$bin" -i "$tmp/fleet.ini" hosts -l "k$(printf '%0*d' "$width" 1)" > /dev/null
	cat "$tmp/t" >> "$tmp/times"
done
sort -n "$tmp/times" | sed -n 3p | {
	read -r wall user rss
	printf '%s hosts, %s-line ssh_config: load + resolve every host: median %s s wall, %s s user CPU, %s KiB peak RSS\n' \
	    "$hosts" "$(wc -l < "$tmp/ssh_config")" "$wall" "$user" "$rss"
}
