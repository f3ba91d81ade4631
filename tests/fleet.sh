#!/bin/sh
# fleet.sh: a local fleet of real OpenSSH sshd "terminals" on 127.0.0.1, for fleetctl's tests and demo.
#
#   sh tests/fleet.sh up DIR K [--groups SPEC]   start K terminals t01..tK under DIR, write DIR/fleet.ini
#   sh tests/fleet.sh down DIR                   stop them (only the PIDs this fleet started)
#   sh tests/fleet.sh stop DIR tNN | start DIR tNN | rekey DIR tNN | port DIR tNN
#
# SPEC is "NAME=HOSTS;NAME=HOSTS", HOSTS written verbatim as the group's `hosts =` value
# (default: lobby = first half, kiosks = all; SPEC "none" writes no group).
#
# Layout: DIR/client/{id_ed25519,authorized_keys,known_hosts}, DIR/names (one terminal a line),
# DIR/tNN/{ssh_host_ed25519_key,sshd_config,sshd.pid,sshd.log,port}, DIR/tNN/root (the terminal's
# root, owned by the login account), DIR/fleet.ini.  As root the terminals are logged into as the
# account `fleettest` (shell /bin/sh, created when missing); as another user, as that user.
#
# Sourced (with FLEET_SH_LIB=1 set) it only defines the fleet_* functions below.  Needs a shell with
# `local` (dash, bash, busybox ash).

FLEET_SSHD=${FLEET_SSHD:-/usr/sbin/sshd}
FLEET_ACCOUNT=${FLEET_ACCOUNT:-fleettest}

fleet_err() {
	echo "fleet: $*" >&2
}

# Name of terminal I of K: as wide as K, at least two digits (t01 .. t99, t001 .. t999, t0001 .. t1000).
fleet_name() {
	local w=${#2}
	[ "$w" -lt 2 ] && w=2
	printf 't%0*d' "$w" "$1"
}

# The account sshd logs the tests into.  As root: make sure FLEET_ACCOUNT exists, has /bin/sh, a home,
# and a password field sshd does not treat as locked (UsePAM no refuses "!" accounts).
fleet_login_user() {
	local tries pw shell home
	if [ "$(id -u)" -ne 0 ]; then
		id -un
		return 0
	fi
	tries=0
	while ! id -u "$FLEET_ACCOUNT" >/dev/null 2>&1; do
		# Another test may be creating it at the same moment: retry a few times.
		useradd -m -s /bin/sh "$FLEET_ACCOUNT" >/dev/null 2>&1 || sleep 0.3
		tries=$((tries + 1))
		if [ "$tries" -ge 10 ]; then
			fleet_err "cannot create account '$FLEET_ACCOUNT'"
			return 1
		fi
	done
	pw=$(getent shadow "$FLEET_ACCOUNT" | cut -d: -f2)
	case "$pw" in
	'!'*) usermod -p '*' "$FLEET_ACCOUNT" >/dev/null 2>&1 || true ;;
	esac
	shell=$(getent passwd "$FLEET_ACCOUNT" | cut -d: -f7)
	[ "$shell" = /bin/sh ] || usermod -s /bin/sh "$FLEET_ACCOUNT" >/dev/null 2>&1 || true
	home=$(getent passwd "$FLEET_ACCOUNT" | cut -d: -f6)
	if [ -n "$home" ] && [ ! -d "$home" ]; then
		mkdir -p "$home" && chown "$FLEET_ACCOUNT:" "$home"
	fi
	echo "$FLEET_ACCOUNT"
}

# Print N TCP ports on 127.0.0.1 that nobody listens on now, from a random base in 20000..59999
# (FLEET_PORT_BASE fixes the base).
# Another process may still take one before sshd binds it: fleet_wait_ready retries those.
fleet_free_ports() {
	local base
	base=${FLEET_PORT_BASE:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
	base=$((20000 + (base - 20000 + 40000) % 40000))
	ss -Htln 2>/dev/null | awk -v n="$1" -v base="$base" '
		{ p = $4; sub(/.*:/, "", p); used[p] = 1 }
		END {
			port = base
			for (i = 0; i < n && port < 61000; port++)
				if (!(port in used)) { print port; i++ }
			for (port = 20000; i < n && port < base; port++)
				if (!(port in used)) { print port; i++ }
		}'
}

# Write DIR/NAME/sshd_config for PORT.
fleet_write_sshd_config() {
	local d="$1/$2"
	cat >"$d/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $3
HostKey $d/ssh_host_ed25519_key
PidFile $d/sshd.pid
AuthorizedKeysFile $1/client/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
MaxStartups 200:30:400
MaxSessions 64
MaxAuthTries 10
LogLevel VERBOSE
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
UseDNS no
EOF
	echo "$3" >"$d/port"
}

# Start one terminal's sshd (it daemonises; its PidFile appears once it listens).  The log is kept
# across restarts; a line marks each start.
fleet_spawn() {
	rm -f "$1/$2/sshd.pid"
	echo "fleet.sh: start $(date '+%H:%M:%S')" >>"$1/$2/sshd.log"
	"$FLEET_SSHD" -f "$1/$2/sshd_config" -E "$1/$2/sshd.log"
}

# PID of a running terminal's listener, or nothing.  Checks the process still is that sshd, so a
# recycled PID is never signalled.
fleet_pid() {
	local pid
	[ -s "$1/$2/sshd.pid" ] || return 1
	pid=$(cat "$1/$2/sshd.pid" 2>/dev/null)
	case "$pid" in '' | *[!0-9]*) return 1 ;; esac
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$1/$2/sshd_config" || return 1
	echo "$pid"
}

# fleet_wait_ready DIR SECONDS REBIND NAME...: wait until every named terminal listens.  With REBIND=1
# (only while the fleet comes up) a terminal whose port was taken meanwhile gets another port.
# Prints the names still not ready on failure.
fleet_wait_ready() {
	local dir="$1" limit="$2" rebind="$3" pending still ticks rebinds n
	shift 3
	pending="$*"
	ticks=0
	rebinds=0
	while [ -n "$pending" ]; do
		still=""
		for n in $pending; do
			if fleet_pid "$dir" "$n" >/dev/null; then
				continue
			fi
			if [ "$rebind" = 1 ] && [ "$rebinds" -lt 50 ] &&
			    grep -q 'Cannot bind any address' "$dir/$n/sshd.log" 2>/dev/null; then
				rebinds=$((rebinds + 1))
				fleet_write_sshd_config "$dir" "$n" "$(fleet_free_ports 1)"
				: >"$dir/$n/sshd.log"
				fleet_spawn "$dir" "$n" || true
			fi
			still="$still $n"
		done
		pending=$still
		[ -z "$pending" ] && break
		ticks=$((ticks + 1))
		if [ "$ticks" -gt $((limit * 10)) ]; then
			for n in $pending; do
				fleet_err "$n did not start: $(tail -n 3 "$dir/$n/sshd.log" 2>/dev/null | tr '\n' ' ')"
			done
			return 1
		fi
		sleep 0.1
	done
	return 0
}

fleet_known_hosts_line() {
	printf '[127.0.0.1]:%s %s\n' "$(cat "$1/$2/port")" "$(cut -d' ' -f1,2 "$1/$2/ssh_host_ed25519_key.pub")"
}

# fleet_client_key DIR COMMENT: the client's key pair in DIR/client, authorized on every terminal.
fleet_client_key() {
	ssh-keygen -t ed25519 -N '' -q -C "$2" -f "$1/client/id_ed25519" </dev/null || return 1
	cp "$1/client/id_ed25519.pub" "$1/client/authorized_keys"
}

# fleet_host_keys DIR LIST: an ed25519 host key DIR/NAME/ssh_host_ed25519_key for every name in the
# file LIST (a few at once: key generation is cheap, process start-up is not).
fleet_host_keys() {
	xargs -P 4 -I{} ssh-keygen -t ed25519 -N '' -q -C {} -f "$1/{}/ssh_host_ed25519_key" <"$2"
}

# fleet_inventory_head DIR USER: the [fleet] section a generated fleet.ini starts with.
fleet_inventory_head() {
	echo "[fleet]"
	echo "user = $2"
	echo "identity = $1/client/id_ed25519"
	echo "known_hosts = $1/client/known_hosts"
	echo "ssh_config = none"
	echo "state_dir = $1/state"
}

fleet_write_inventory() {
	local dir="$1" user="$2" k="$3" spec="$4" first last half n g hosts
	first=$(fleet_name 1 "$k")
	last=$(fleet_name "$k" "$k")
	half=$(( (k + 1) / 2 ))
	{
		echo "# generated by tests/fleet.sh: $k local sshd terminals"
		fleet_inventory_head "$dir" "$user"
		echo
		while read -r n; do
			echo "[host:$n]"
			echo "address = 127.0.0.1"
			echo "port = $(cat "$dir/$n/port")"
			echo "root = $dir/$n/root"
			echo
		done <"$dir/names"
		if [ -z "$spec" ]; then
			echo "[group:lobby]"
			if [ "$half" -eq 1 ]; then
				echo "hosts = $first"
			else
				echo "hosts = t[$(fleet_name 1 "$k" | cut -c2-):$(fleet_name "$half" "$k" | cut -c2-)]"
			fi
			echo
			echo "[group:kiosks]"
			if [ "$k" -eq 1 ]; then
				echo "hosts = $first"
			else
				echo "hosts = t[$(echo "$first" | cut -c2-):$(echo "$last" | cut -c2-)]"
			fi
		elif [ "$spec" != none ]; then
			echo "$spec" | tr ';' '\n' | while IFS='=' read -r g hosts; do
				[ -n "$g" ] || continue
				echo "[group:$g]"
				echo "hosts = $hosts"
				echo
			done
		fi
	} >"$dir/fleet.ini"
}

# fleet_up_dir DIR K [--groups SPEC]
fleet_up_dir() {
	local dir="$1" k="$2" spec="" user i n p
	if [ "${3:-}" = --groups ]; then
		spec=${4:?--groups needs a SPEC}
	fi
	case "$k" in '' | *[!0-9]* | 0) fleet_err "K must be a positive number"; return 2 ;; esac
	if [ -e "$dir/names" ]; then
		fleet_err "$dir already holds a fleet (run down, then remove it)"
		return 2
	fi
	[ -x "$FLEET_SSHD" ] || { fleet_err "no sshd at $FLEET_SSHD"; return 1; }
	user=$(fleet_login_user) || return 1
	if [ "$(id -u)" -eq 0 ]; then
		mkdir -p /run/sshd && chmod 0755 /run/sshd
	fi
	# One descriptor or two per listener and per connection: ask for the hard limit.
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	umask 022
	mkdir -p "$dir/client" || return 1
	dir=$(cd "$dir" && pwd)
	# sshd reads authorized_keys as the login account: every directory on the way must be searchable.
	chmod 0755 "$dir" "$dir/client"
	fleet_client_key "$dir" fleet-client || return 1
	i=1
	: >"$dir/names.tmp"
	while [ "$i" -le "$k" ]; do
		n=$(fleet_name "$i" "$k")
		mkdir -p "$dir/$n/root"
		echo "$n" >>"$dir/names.tmp"
		i=$((i + 1))
	done
	mv "$dir/names.tmp" "$dir/names"
	if [ "$user" != "$(id -un)" ]; then
		xargs -I{} chown "$user:" "$dir/{}/root" <"$dir/names"
	fi
	fleet_host_keys "$dir" "$dir/names" || return 1
	fleet_free_ports "$k" >"$dir/ports.tmp"
	if [ "$(wc -l <"$dir/ports.tmp")" -ne "$k" ]; then
		fleet_err "not enough free ports"
		return 1
	fi
	paste -d' ' "$dir/names" "$dir/ports.tmp" | while read -r n p; do
		fleet_write_sshd_config "$dir" "$n" "$p"
	done
	rm -f "$dir/ports.tmp"
	# Each sshd daemonises at once; do not wait for one before starting the next.
	xargs -P 8 -I{} sh -c 'rm -f "$1/$2/sshd.pid"; : >"$1/$2/sshd.log"; exec "$0" -f "$1/$2/sshd_config" -E "$1/$2/sshd.log"' \
	    "$FLEET_SSHD" "$dir" {} <"$dir/names" || true
	if ! fleet_wait_ready "$dir" 20 1 $(cat "$dir/names"); then
		fleet_down_dir "$dir"
		return 1
	fi
	while read -r n; do
		fleet_known_hosts_line "$dir" "$n"
	done <"$dir/names" >"$dir/client/known_hosts"
	fleet_write_inventory "$dir" "$user" "$k" "$spec"
	return 0
}

# Listener PIDs and every process below them (the sessions), from one ps snapshot.
fleet_tree() {
	[ -n "$1" ] || return 0
	ps -e -o pid=,ppid= | awk -v roots="$1" '
		BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) { keep[r[i]] = 1; print r[i] } }
		{ parent[$1] = $2 }
		END {
			do {
				grew = 0
				for (p in parent)
					if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; print p; grew = 1 }
			} while (grew)
		}'
}

# TERM the given PIDs, wait up to 5 s, then KILL what is left.
fleet_kill() {
	local tries alive p
	[ -n "$1" ] || return 0
	kill -TERM $1 2>/dev/null || true
	tries=0
	while [ "$tries" -lt 50 ]; do
		alive=""
		for p in $1; do
			if kill -0 "$p" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; then
				alive="$alive $p"
			fi
		done
		[ -z "$alive" ] && return 0
		sleep 0.1
		tries=$((tries + 1))
	done
	kill -KILL $alive 2>/dev/null || true
	return 0
}

# fleet_down_dir DIR: stop every terminal of the fleet; safe to call twice.
fleet_down_dir() {
	local dir="$1" roots="" n p
	[ -f "$dir/names" ] || return 0
	for n in $(cat "$dir/names"); do
		if p=$(fleet_pid "$dir" "$n"); then
			roots="$roots $p"
		fi
	done
	fleet_kill "$(fleet_tree "$roots" | tr '\n' ' ')"
	for n in $(cat "$dir/names"); do
		rm -f "$dir/$n/sshd.pid"
	done
	return 0
}

# fleet_stop_one DIR NAME: the terminal goes away (listener and its open sessions), like a power cut.
fleet_stop_one() {
	local p
	if p=$(fleet_pid "$1" "$2"); then
		fleet_kill "$(fleet_tree "$p" | tr '\n' ' ')"
	fi
	rm -f "$1/$2/sshd.pid"
}

# fleet_start_one DIR NAME: start it again on the same port (waits up to 10 s).
fleet_start_one() {
	fleet_pid "$1" "$2" >/dev/null && return 0
	fleet_spawn "$1" "$2" || return 1
	fleet_wait_ready "$1" 10 0 "$2"
}

# fleet_rekey_one DIR NAME: new host key for the terminal (known_hosts keeps the old one).
fleet_rekey_one() {
	fleet_stop_one "$1" "$2"
	rm -f "$1/$2/ssh_host_ed25519_key" "$1/$2/ssh_host_ed25519_key.pub"
	ssh-keygen -t ed25519 -N '' -q -C "$2" -f "$1/$2/ssh_host_ed25519_key" </dev/null || return 1
	fleet_start_one "$1" "$2"
}

fleet_port() {
	cat "$1/$2/port"
}

# fleet_ssh DIR NAME CMD...: run CMD on the terminal with the real OpenSSH client.
fleet_ssh() {
	local dir="$1" n="$2"
	shift 2
	ssh -F none -i "$dir/client/id_ed25519" -o IdentitiesOnly=yes -o IdentityAgent=none \
	    -o UserKnownHostsFile="$dir/client/known_hosts" -o GlobalKnownHostsFile=/dev/null \
	    -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10 -o LogLevel=ERROR \
	    -p "$(cat "$dir/$n/port")" "$(sed -n 's/^user = //p' "$dir/fleet.ini")@127.0.0.1" "$@"
}

if [ -z "${FLEET_SH_LIB:-}" ]; then
	cmd=${1:-}
	[ $# -gt 0 ] && shift
	case "$cmd" in
	up) fleet_up_dir "$@" ;;
	down) fleet_down_dir "$@" ;;
	stop) fleet_stop_one "$@" ;;
	start) fleet_start_one "$@" ;;
	rekey) fleet_rekey_one "$@" ;;
	port) fleet_port "$@" ;;
	ssh) fleet_ssh "$@" ;;
	*)
		echo "usage: fleet.sh up DIR K [--groups SPEC] | down DIR | stop|start|rekey|port DIR NAME | ssh DIR NAME CMD..." >&2
		exit 2
		;;
	esac
fi
