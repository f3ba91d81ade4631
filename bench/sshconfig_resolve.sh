#!/bin/sh
# Time ssh_config resolution: a generated ~500-line configuration (100 Host blocks with wildcards and
# negations, Match host/user blocks, an Include), 10,000 host names (or $1), lib/sshconfig built -O2.
# usage: sh bench/sshconfig_resolve.sh [NHOSTS]
set -eu
cd "$(dirname "$0")/.."
n=${1:-10000}
tmp=$(mktemp -d /tmp/sshcfg-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

${CC:-gcc} -std=c17 -D_GNU_SOURCE -O2 -o "$tmp/bench" bench/sshconfig_resolve.c lib/sshconfig.c lib/util.c

printf 'Host *\n  ServerAliveCountMax 4\n' >"$tmp/extra.conf"
{
	echo "# generated: $(date)"
	i=0
	while [ $i -lt 100 ]; do
		echo "Host site$i-kiosk* site$i-atm?? !site$i-kiosk-test*"
		echo "  HostName %h.site$i.example.net"
		echo "  User kiosk$i"
		echo "  Port $((2200 + i))"
		echo "  IdentityFile ~/.ssh/id_site$i"
		i=$((i + 1))
	done
	echo "Match host *.site1?.example.net user kiosk1?"
	echo "  ConnectTimeout 7"
	echo "Match originalhost site9*"
	echo "  ServerAliveInterval 30"
	echo "Include $tmp/extra.conf"
	echo "Host *"
	echo "  IdentityFile ~/.ssh/id_%r_%h"
	echo "  UserKnownHostsFile ~/.ssh/known_hosts_fleet"
	echo "  StrictHostKeyChecking accept-new"
} >"$tmp/config"
echo "config: $(wc -l <"$tmp/config") lines; hosts: $n"
"$tmp/bench" "$tmp/config" "$n"
