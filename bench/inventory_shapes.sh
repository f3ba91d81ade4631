#!/bin/sh
# bench/inventory_shapes.sh [HOSTS]: load HOSTS (default 100,000) terminals written out in the three
# shapes a CMDB export produces, and print wall time, user CPU and peak RSS of `fleetctl hosts -l ONE`
# (median of 3; loads, expands and selects, connects to nothing):
#   list      one group whose `hosts =` lists every host, one per continuation line (about 1 MB)
#   sections  one [host:NAME] section per host, each with its own address
#   groups    HOSTS/100 groups of 100 hosts each (a port set per group), and one group of all those groups
# The issue's bar: each well under a second and under 128 MB.
set -eu
n=${1:-100000}
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLEETCTL:-$top/fleetctl}
[ -x "$bin" ] || { echo "build fleetctl first (make fleetctl)" >&2; exit 2; }
tmp=$(mktemp -d /tmp/fleetctl-invshapes.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
head='[fleet]\nuser = u\nssh_config = none\nstate_dir = '"$tmp"'/state\n\n'
awk -v n="$n" -v head="$head" 'BEGIN {
	printf head "[group:all1]\nhosts = h%06d", 0
	for (i = 1; i < n; i++) printf ",\n    h%06d", i
	printf "\n"
}' > "$tmp/list.ini"
awk -v n="$n" -v head="$head" 'BEGIN {
	printf head
	for (i = 0; i < n; i++) printf "[host:h%06d]\naddress = 10.%d.%d.%d\n\n", i, int(i / 65536) % 256, int(i / 256) % 256, i % 256
}' > "$tmp/sections.ini"
awk -v n="$n" -v head="$head" 'BEGIN {
	printf head
	g = int(n / 100)
	for (k = 0; k < g; k++) {
		printf "[group:g%05d]\nport = %d\nhosts = h%06d", k, 2000 + k % 100, k * 100
		for (i = 1; i < 100; i++) printf ",\n    h%06d", k * 100 + i
		printf "\n\n"
	}
	printf "[group:top]\ngroups = g%05d", 0
	for (k = 1; k < g; k++) printf ",\n    g%05d", k
	printf "\n"
}' > "$tmp/groups.ini"
for shape in list sections groups; do
	: > "$tmp/times"
	for run in 1 2 3; do
		/usr/bin/time -f '%e %U %M' -o "$tmp/t" "$bin" -i "$tmp/$shape.ini" hosts -l h000001 > /dev/null
		cat "$tmp/t" >> "$tmp/times"
	done
	sort -n "$tmp/times" | sed -n 2p | {
		read -r wall user rss
		printf '%-8s %7s hosts, %5s KiB file: median %s s wall, %s s user CPU, %s KiB peak RSS\n' "$shape" "$n" \
		    $(( $(wc -c < "$tmp/$shape.ini") / 1024 )) "$wall" "$user" "$rss"
	}
done
