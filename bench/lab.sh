#!/bin/sh
# lab.sh: thousands of simulated terminals on one machine, for the scale benchmark (bench/scale.sh).
#
#   sh bench/lab.sh up DIR N          N terminals (up to 100,000) served by a few dozen sshd daemons
#   sh bench/lab.sh down DIR          stop them (by PID) and delete the network namespace
#   sh bench/lab.sh exec DIR CMD...   run CMD inside the lab's network namespace (the controller runs there)
#   sh bench/lab.sh check DIR [K]     log into K terminals (default 3: first, middle, last) with OpenSSH
#   sh bench/lab.sh status DIR        daemons alive, listening sockets, sessions
#   sh bench/lab.sh real-up DIR K     K real terminals (one sshd each: own port, host key, root) on
#                                     127.0.0.1, through tests/fleet.sh; real-down DIR stops them
#
# A simulated terminal is one (address, port) with its own release root and its own known_hosts line.
# OpenSSH allows at most 16 listening sockets per sshd, so the lab runs in a network namespace it creates
# (only `lo` up; nothing in it can reach any other network): D daemons (LAB_DAEMONS, default 40) each listen
# on 0.0.0.0 at P ports (LAB_PORTS, at most 16), D x P ports in all, and terminal i is
#
#   port    = LAB_PORT_BASE + (i mod D*P)        consecutive terminals go to different daemons
#   address = 127.1.X.Y for i / (D*P)            (Y = 1..250), so every terminal is its own address:port
#
# Each daemon has its own ed25519 host key; known_hosts holds one line per terminal, as an operator's does.
# Roots are DIR/roots/tNNNNN (LAB_ROOTS=PATH puts them elsewhere, e.g. on disk), owned by the login account
# (tests/fleet.sh's: `fleettest` as root).  The controller must run inside the namespace:
# `sh bench/lab.sh exec DIR fleetctl -i DIR/fleet.ini exec -- true`.
#
# Layout: DIR/netns (the namespace's name), DIR/client/{id_ed25519,authorized_keys,known_hosts}, DIR/names,
# DIR/hosts.tsv (name address port root), DIR/dNN/{ssh_host_ed25519_key,sshd_config,sshd.pid,sshd.log},
# DIR/fleet.ini (state_dir DIR/state).  LAB_INI_EXTRA: lines added to [fleet].  LAB_LOG_LEVEL: sshd's
# LogLevel (default ERROR: 10,000 logins would otherwise write 10,000 log lines per run).
#
# Needs root (ip netns), iproute2, openssh-server.

set -u
LAB_TOP=$(cd "$(dirname "$0")/.." && pwd)
FLEET_SH_LIB=1 . "$LAB_TOP/tests/fleet.sh"

LAB_DAEMONS=${LAB_DAEMONS:-40}
LAB_PORTS=${LAB_PORTS:-16}
LAB_PORT_BASE=${LAB_PORT_BASE:-20000}
LAB_LOG_LEVEL=${LAB_LOG_LEVEL:-ERROR}

lab_err() {
	echo "lab: $*" >&2
}

lab_num() {
	case "$1" in '' | *[!0-9]*) return 1 ;; esac
	[ "$1" -gt 0 ]
}

# Terminal name of I (1-based) of N: t01.., t001.., t00001.. (the width of N, at least 2).
lab_name() {
	local w=${#2}
	[ "$w" -lt 2 ] && w=2
	printf 't%0*d' "$w" "$1"
}

lab_ns() {
	[ -s "$1/netns" ] && cat "$1/netns"
}

lab_write_sshd_config() {
	local dir="$1" dn="$2" d="$1/$2" k port
	shift 2
	{
		for port in "$@"; do
			echo "ListenAddress 0.0.0.0:$port"
		done
		cat <<EOF
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $dir/client/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
MaxStartups 2000:30:4000
MaxSessions 64
MaxAuthTries 10
LoginGraceTime 120
LogLevel $LAB_LOG_LEVEL
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
UseDNS no
EOF
	} >"$d/sshd_config"
}

lab_up() {
	local dir="$1" n="$2" nd np q user ns i d k roots t0
	lab_num "$n" || { lab_err "N must be a positive number"; return 2; }
	[ "$n" -le 100000 ] || { lab_err "at most 100,000 terminals"; return 2; }
	[ "$(id -u)" -eq 0 ] || { lab_err "needs root (ip netns)"; return 1; }
	command -v ip >/dev/null 2>&1 || { lab_err "needs ip (iproute2)"; return 1; }
	[ -x "$FLEET_SSHD" ] || { lab_err "no sshd at $FLEET_SSHD"; return 1; }
	if [ -e "$dir/netns" ] || [ -e "$dir/names" ]; then
		lab_err "$dir already holds a lab (run down, then remove it)"
		return 2
	fi
	lab_num "$LAB_DAEMONS" && lab_num "$LAB_PORTS" && [ "$LAB_PORTS" -le 16 ] ||
	    { lab_err "LAB_DAEMONS must be positive, LAB_PORTS 1..16"; return 2; }
	nd=$LAB_DAEMONS
	[ "$nd" -gt "$n" ] && nd=$n
	np=$(( (n + nd - 1) / nd ))
	[ "$np" -gt "$LAB_PORTS" ] && np=$LAB_PORTS
	q=$((nd * np))
	if [ $(( (n + q - 1) / q )) -gt 62500 ]; then
		lab_err "too many terminals for $q ports"
		return 2
	fi
	t0=$(date +%s)
	user=$(fleet_login_user) || return 1
	mkdir -p /run/sshd && chmod 0755 /run/sshd
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	umask 022
	mkdir -p "$dir/client" || return 1
	dir=$(cd "$dir" && pwd)
	chmod 0755 "$dir" "$dir/client"

	ns=fleetlab-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
	echo "$ns" >"$dir/netns"
	ip netns add "$ns" || { rm -f "$dir/netns"; lab_err "cannot create network namespace $ns"; return 1; }
	ip -n "$ns" link set lo up || return 1

	fleet_client_key "$dir" fleet-lab-client || return 1

	# Daemon d (0-based) listens on LAB_PORT_BASE + d + k*nd, k = 0..np-1.
	d=0
	: >"$dir/daemons"
	while [ "$d" -lt "$nd" ]; do
		dn=$(printf 'd%02d' "$d")
		mkdir -p "$dir/$dn"
		echo "$dn" >>"$dir/daemons"
		d=$((d + 1))
	done
	fleet_host_keys "$dir" "$dir/daemons" || return 1
	d=0
	while [ "$d" -lt "$nd" ]; do
		dn=$(printf 'd%02d' "$d")
		set --
		k=0
		while [ "$k" -lt "$np" ]; do
			set -- "$@" $((LAB_PORT_BASE + d + k * nd))
			k=$((k + 1))
		done
		lab_write_sshd_config "$dir" "$dn" "$@"
		d=$((d + 1))
	done

	# The terminals: name, address, port, root, and the key of the daemon behind the port.
	roots=${LAB_ROOTS:-$dir/roots}
	mkdir -p "$roots" || return 1
	chmod 0755 "$roots"
	roots=$(cd "$roots" && pwd)
	awk -v n="$n" -v q="$q" -v nd="$nd" -v base="$LAB_PORT_BASE" -v roots="$roots" -v dir="$dir" '
		BEGIN {
			w = length(n "")
			if (w < 2) w = 2
			for (i = 0; i < n; i++) {
				p = i % q
				a = int(i / q)
				name = sprintf("t%0*d", w, i + 1)
				printf "%s 127.1.%d.%d %d %s/%s d%02d\n", name, int(a / 250), a % 250 + 1, base + p, roots, name, p % nd
			}
		}' >"$dir/hosts.tsv"
	cut -d' ' -f1 "$dir/hosts.tsv" >"$dir/names"
	(cd "$roots" && xargs mkdir -p <"$dir/names") || return 1
	(cd "$roots" && xargs chown "$user:" <"$dir/names") || return 1
	while read -r dn; do
		printf '%s %s\n' "$dn" "$(cut -d' ' -f1,2 "$dir/$dn/ssh_host_ed25519_key.pub")"
	done <"$dir/daemons" >"$dir/daemon-keys"
	awk 'NR == FNR { key[$1] = $2 " " $3; next }
		{ printf "[%s]:%s %s\n", $2, $3, key[$5] }' "$dir/daemon-keys" "$dir/hosts.tsv" >"$dir/client/known_hosts"
	{
		echo "# generated by bench/lab.sh: $n simulated terminals, $nd sshd daemons x $np ports, netns $ns"
		fleet_inventory_head "$dir" "$user"
		[ -n "${LAB_INI_EXTRA:-}" ] && printf '%s\n' "$LAB_INI_EXTRA"
		echo
		awk '{ printf "[host:%s]\naddress = %s\nport = %s\nroot = %s\n\n", $1, $2, $3, $4 }' "$dir/hosts.tsv"
	} >"$dir/fleet.ini"

	# Start the daemons inside the namespace; each daemonises and writes its PidFile once it listens.
	while read -r dn; do
		: >"$dir/$dn/sshd.log"
		ip netns exec "$ns" "$FLEET_SSHD" -f "$dir/$dn/sshd_config" -E "$dir/$dn/sshd.log" ||
		    lab_err "$dn: sshd did not start: $(tail -n 2 "$dir/$dn/sshd.log" | tr '\n' ' ')"
	done <"$dir/daemons"
	i=0
	while [ "$i" -lt 100 ]; do
		k=0
		while read -r dn; do
			fleet_pid "$dir" "$dn" >/dev/null && k=$((k + 1))
		done <"$dir/daemons"
		[ "$k" -eq "$nd" ] && [ "$(ip netns exec "$ns" ss -Htln | wc -l)" -ge "$q" ] && break
		sleep 0.1
		i=$((i + 1))
	done
	if [ "$i" -ge 100 ]; then
		lab_err "only $k of $nd daemons came up: $(cat "$dir"/d*/sshd.log | head -n 3 | tr '\n' ' ')"
		return 1
	fi
	echo "lab: $n terminals up in $(( $(date +%s) - t0 )) s: $nd sshd daemons x $np ports in netns $ns," \
	    "addresses 127.1.0.1..$(tail -n 1 "$dir/hosts.tsv" | cut -d' ' -f2), roots in $roots; inventory $dir/fleet.ini" >&2
}

# Stop every daemon (and the sessions below it) by PID, then whatever else runs in the namespace (only
# what this lab started: it is ours), then delete the namespace.  Safe to call twice, or on a half-made lab.
lab_down() {
	local dir="$1" ns roots="" dn p left i
	[ -d "$dir" ] || return 0
	ns=$(lab_ns "$dir")
	if [ -f "$dir/daemons" ]; then
		while read -r dn; do
			p=$(fleet_pid "$dir" "$dn") && roots="$roots $p"
		done <"$dir/daemons"
		fleet_kill "$(fleet_tree "$roots" | tr '\n' ' ')"
		while read -r dn; do
			rm -f "$dir/$dn/sshd.pid"
		done <"$dir/daemons"
	fi
	if [ -n "$ns" ] && ip netns list | grep -q "^$ns\b"; then
		i=0
		while [ "$i" -lt 3 ]; do
			left=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
			[ -z "$left" ] && break
			fleet_kill "$left"
			i=$((i + 1))
		done
		ip netns del "$ns" || lab_err "cannot delete network namespace $ns"
	fi
	rm -f "$dir/netns"
	return 0
}

lab_exec() {
	local dir="$1" ns
	shift
	ns=$(lab_ns "$dir") || { lab_err "$dir: no lab (lab.sh up first)"; return 2; }
	exec ip netns exec "$ns" "$@"
}

lab_check() {
	local dir="$1" k="${2:-3}" n total name addr port root dn bad=0 i
	ns=$(lab_ns "$dir") || { lab_err "$dir: no lab"; return 2; }
	total=$(wc -l <"$dir/hosts.tsv")
	if [ "$k" -eq 3 ]; then
		set -- 1 $(( (total + 1) / 2 )) "$total"
	else
		set -- $(awk -v k="$k" -v t="$total" 'BEGIN { srand(); for (i = 0; i < k; i++) print int(rand() * t) + 1 }')
	fi
	for i in "$@"; do
		read -r name addr port root dn <<EOF
$(sed -n "${i}p" "$dir/hosts.tsv")
EOF
		got=$(ip netns exec "$ns" ssh -F none -i "$dir/client/id_ed25519" -o IdentitiesOnly=yes -o IdentityAgent=none \
		    -o UserKnownHostsFile="$dir/client/known_hosts" -o GlobalKnownHostsFile=/dev/null \
		    -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10 -o LogLevel=ERROR \
		    -p "$port" "$(sed -n 's/^user = //p' "$dir/fleet.ini")@$addr" "cd '$root' && pwd" 2>&1)
		if [ "$got" = "$root" ]; then
			echo "lab: $name ($addr port $port, $dn): ok"
		else
			echo "lab: $name ($addr port $port, $dn): FAILED: $got"
			bad=$((bad + 1))
		fi
	done
	[ "$bad" -eq 0 ]
}

lab_status() {
	local dir="$1" ns alive=0 nd=0 dn
	ns=$(lab_ns "$dir") || { echo "lab: $dir: down"; return 1; }
	while read -r dn; do
		nd=$((nd + 1))
		fleet_pid "$dir" "$dn" >/dev/null && alive=$((alive + 1))
	done <"$dir/daemons"
	echo "lab: netns $ns, $(wc -l <"$dir/names") terminals, $alive/$nd daemons alive," \
	    "$(ip netns exec "$ns" ss -Htln | wc -l) listening sockets, $(ip netns exec "$ns" ss -Htn state established | wc -l) established"
	[ "$alive" -eq "$nd" ]
}

# K real terminals: one sshd each (tests/fleet.sh).  At K > 99 names are t001.., at K > 999 t0001...
lab_real_up() {
	local t0 rc
	t0=$(date +%s)
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	fleet_up_dir "$1" "$2" --groups none
	rc=$?
	[ "$rc" -eq 0 ] && echo "lab: $2 real sshd terminals up in $(( $(date +%s) - t0 )) s; inventory $1/fleet.ini" >&2
	return "$rc"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
up)
	[ $# -eq 2 ] || { lab_err "usage: lab.sh up DIR N"; exit 2; }
	# A lab that does not come up whole is taken down again, namespace included (not on a usage error,
	# exit 2, which touched nothing: DIR may hold a running lab).
	trap 'lab_down "$1" >/dev/null 2>&1; exit 130' INT TERM
	lab_up "$1" "$2"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		[ "$rc" -ne 2 ] && lab_down "$1"
		exit "$rc"
	fi
	;;
down) [ $# -eq 1 ] || { lab_err "usage: lab.sh down DIR"; exit 2; }; lab_down "$1" ;;
exec) [ $# -ge 2 ] || { lab_err "usage: lab.sh exec DIR CMD..."; exit 2; }; lab_exec "$@" ;;
check) lab_check "$@" ;;
status) lab_status "$@" ;;
real-up) [ $# -eq 2 ] || { lab_err "usage: lab.sh real-up DIR K"; exit 2; }; lab_real_up "$@" ;;
real-down) fleet_down_dir "$1" ;;
*)
	echo "usage: lab.sh up DIR N | down DIR | exec DIR CMD... | check DIR [K] | status DIR | real-up DIR K | real-down DIR" >&2
	exit 2
	;;
esac
