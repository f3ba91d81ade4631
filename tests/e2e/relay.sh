#!/bin/sh
# e2e: a store in network namespaces (tests/site.sh): the controller reaches a relay (t01) over an
# uplink shaped with tc, and 10 terminals (t02..t11) only through it.  A push crosses the uplink once
# (bytes counted on the relay's uplink interface); the relay fans out with its own key and checks
# each terminal's host key against the controller's known_hosts; then Dropbear's client on the relay,
# a changed host key, the relay dying mid fan-out, the controller killed mid fan-out and resumed, the
# relay unreachable, --no-relay, a rollback that re-uploads from the relay's cache, cache pruning.
. "$(dirname "$0")/../lib.sh"
. "$T_TOP/tests/site.sh"

t_setup
if [ "$(id -u)" -ne 0 ] || ! command -v tc >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
	fail relay_netns "needs root, ip and tc to build the site in network namespaces"
	t_done
fi
SITE=$T/site
relay_cleanup() {
	[ -n "${DBPID:-}" ] && kill "$DBPID" 2>/dev/null
	site_down "$SITE"
	t_cleanup
}
trap relay_cleanup EXIT
if ! site_up "$SITE" 10 100mbit; then
	fail relay_site_up "the site did not come up"
	t_done
fi
FLEET=$SITE
INV=$SITE/fleet.ini
HIST=$SITE/state/history
ACCOUNT=$(fleet_login_user)
# The controller runs in its own namespace: the relay is all it can reach.
fl() {
	ip netns exec "$SITE_CTL" "$FLEETCTL" -i "${FL_INV:-$INV}" "$@"
}
# The relay's own key for its terminals (a key on the relay, never the controller's), and a copy in
# Dropbear's format for dbclient.
mkdir -p "$T/relaykey" "$T/rcache"
ssh-keygen -t ed25519 -N '' -q -C relay-key -f "$T/relaykey/id_ed25519" </dev/null
dropbearconvert openssh dropbear "$T/relaykey/id_ed25519" "$T/relaykey/id_dropbear" >/dev/null 2>&1
cat "$T/relaykey/id_ed25519.pub" >>"$SITE/client/authorized_keys"
chown -R "$ACCOUNT:" "$T/relaykey" "$T/rcache"
chmod 755 "$T/relaykey"
RFP=$(ssh-keygen -lf "$T/relaykey/id_ed25519.pub" | cut -d' ' -f2)
cat >>"$INV" <<EOF
relay_identity = $T/relaykey/id_ed25519
relay_cache = $T/rcache
relay_parallel = 4
EOF
TERMS=$(names 2 11)
# t03's tools are all busybox (sh, tar, gzip, sha256sum, find, tail ...)
BB=""
if command -v busybox >/dev/null 2>&1; then
	BB=$T/bb
	mkdir -p "$BB"
	for a in $(busybox --list); do ln -sf "$(command -v busybox)" "$BB/$a"; done
	echo "SetEnv PATH=$BB" >>"$SITE/t03/sshd_config"
	fleet_stop_one "$SITE" t03
	fleet_start_one "$SITE" t03
else
	echo "# busybox is not installed: no busybox terminal behind the relay"
fi
uplink() {
	site_uplink_bytes "$SITE"
}
all_on() {
	local n bad=""
	for n in $TERMS; do
		[ "$(link "$n")" = "releases/$1" ] || bad="$bad $n:$(link "$n")"
	done
	T_WHY="not on $1:$bad"
	[ -z "$bad" ]
}
# mkrel TAG MB: a release of MB megabytes of fresh random data (nothing for a delta to reuse)
mkrel() {
	rm -rf "$T/rel"
	mkdir -p "$T/rel"
	head -c "$(($2 * 1000000))" /dev/urandom >"$T/rel/blob"
	printf 'version %s\n' "$1" >"$T/rel/VERSION"
}

ip netns exec "$SITE_CTL" ip route get 10.77.1.12 >/dev/null 2>&1 &&
	fail relay_no_direct_route "the controller's namespace routes to the site LAN" || pass relay_no_direct_route
t_check relay_hosts_explain expect_output 'relay for: t02,t03,t04,t05,t06,t07,t08,t09,t10,t11 \(10 terminals\)' \
    fl hosts --explain
t_check relay_hosts_line expect_output 't05 .*jump=t01  relay=t01' fl hosts -l t05
t_check relay_hosts_json expect_output '"relay": "t01"' fl hosts -l t05 --json
t_check relay_exec_through_jump expect_output 't07: via-jump' fl exec -l t07 -- echo via-jump

# ---- push: the bundle crosses the uplink once -------------------------------------------------
mkrel v1 6
b0=$(uplink)
t_check relay_push_ok expect_exit 0 fl push "$T/rel" --version 1.0 -l site --json
b1=$(uplink)
V1=$(hj t02 .release)
size=$(stat -c %s "$SITE/state/bundles/"*.tar.gz 2>/dev/null | head -n 1)
up=$((b1 - b0))
echo "# uplink: $up bytes for a $size-byte bundle to 10 terminals"
[ -n "$size" ] && [ "$up" -lt $((size * 115 / 100)) ] && [ "$up" -gt "$size" ] && pass relay_uplink_once ||
	fail relay_uplink_once "$up bytes over the uplink, bundle $size"
t_check relay_all_on_v1 all_on "$V1"
[ "$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host) | .relay' | sort -u)" = t01 ] && pass relay_json_relay ||
	fail relay_json_relay "relay fields: $(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host) | .relay' | sort -u | tr '\n' ' ')"
[ "$(sj .bytes_relayed)" -ge $((size * 10)) ] && [ "$(sj .bytes_sent)" -lt $((size * 12 / 10)) ] &&
	pass relay_json_summary || fail relay_json_summary "sent $(sj .bytes_sent), relayed $(sj .bytes_relayed)"
cmp -s "$SITE/t06/root/app/current/blob" "$T/rel/blob" && pass relay_content || fail relay_content "t06's blob differs"
git -C "$HIST" log -1 --format=%B | grep -q '^t04 ok .* via=t01 staged=' && pass relay_history_via ||
	fail relay_history_via "$(git -C "$HIST" log -1 --format=%B | grep '^t04')"
grep -q "Accepted publickey for $ACCOUNT .*$RFP" "$SITE/t09/sshd.log" && pass relay_uses_relay_identity ||
	fail relay_uses_relay_identity "t09's sshd log has no login with the relay's key $RFP"
[ "$(ls "$T/rcache/cache")" = "b.$(basename "$(ls "$SITE/state/bundles/"*.tar.gz | head -n 1)" .tar.gz)" ] &&
	pass relay_cache_named_by_sha ||
	fail relay_cache_named_by_sha "cache: $(ls "$T/rcache/cache" | tr '\n' ' ')"
ls "$T/rcache" | grep -q '^kh\.' && fail relay_known_hosts_removed "kh.* left in the cache dir" ||
	pass relay_known_hosts_removed

# ---- a delta through the relay -----------------------------------------------------------------
echo two >"$T/rel/VERSION"
b0=$(uplink)
t_check relay_delta_ok expect_exit 0 fl push "$T/rel" --version 1.1 -l site --json
b1=$(uplink)
V11=$(hj t02 .release)
[ "$(hj t03 .delta)" = true ] && [ $((b1 - b0)) -lt 1000000 ] && pass relay_delta_small ||
	fail relay_delta_small "delta $(hj t03 .delta), uplink $((b1 - b0))"
t_check relay_all_on_v11 all_on "$V11"

# ---- Dropbear's client on a busybox relay (relay_client auto finds dbclient: no ssh there) ------
FL_INV=$T/db.ini
sed -e "s|^relay_identity = .*|relay_identity = $T/relaykey/id_dropbear|" "$INV" >"$FL_INV"
cp "$SITE/t01/sshd_config" "$T/t01.sshd_config"
if [ -n "$BB" ]; then
	mkdir -p "$T/bbrelay"
	cp -P "$BB"/* "$T/bbrelay/"
	ln -sf "$(command -v dbclient)" "$T/bbrelay/dbclient"
	echo "SetEnv PATH=$T/bbrelay" >>"$SITE/t01/sshd_config"
else
	echo 'relay_client = dbclient' >>"$FL_INV"
fi
fleet_stop_one "$SITE" t01
fleet_start_one "$SITE" t01
mkrel v2 2
t_check relay_dbclient_push expect_exit 0 fl push "$T/rel" --version 2.0 -l site --json
V2=$(hj t02 .release)
t_check relay_dbclient_all_on all_on "$V2"
grep -q "Accepted publickey for $ACCOUNT .*$RFP" "$SITE/t08/sshd.log" && pass relay_dbclient_relay_identity ||
	fail relay_dbclient_relay_identity "no login with the relay's key on t08"
[ -n "$BB" ] && ! PATH="$T/bbrelay" command -v ssh >/dev/null 2>&1 &&
	pass relay_busybox_relay_has_no_ssh || fail relay_busybox_relay_has_no_ssh "the relay's PATH has ssh (or no busybox)"
cp "$T/t01.sshd_config" "$SITE/t01/sshd_config"
fleet_stop_one "$SITE" t01
fleet_start_one "$SITE" t01
unset FL_INV

# ---- a terminal with a changed host key: refused on the relay, named --------------------------
fleet_rekey_one "$SITE" t05
mkrel v3 1
t_check relay_hostkey_exit expect_exit 3 fl push "$T/rel" --version 3.0 -l site --json
V3=$(hj t02 .release)
[ "$(hj t05 .state)" = hostkey ] && hj t05 .error | grep -q 'via relay t01' && pass relay_hostkey_refused ||
	fail relay_hostkey_refused "t05: $(hj t05 .state): $(hj t05 .error)"
[ "$(link t05)" = "releases/$V2" ] && [ "$(link t04)" = "releases/$V3" ] && pass relay_hostkey_others_ok ||
	fail relay_hostkey_others_ok "t05 $(link t05), t04 $(link t04)"
# the operator accepts the new key on purpose (through the jump), and the relay uses it from then on
grep -v '^10.77.1.15 ' "$SITE/client/known_hosts" >"$T/kh" && cat "$T/kh" >"$SITE/client/known_hosts"
t_check relay_hostkey_learn expect_exit 0 fl exec --accept-new-host-keys -l t05 -- true
t_check relay_hostkey_after expect_exit 0 fl push "$T/rel" --version 3.0 -l t05
# and a terminal the controller has no key for is refused before the relay's client runs
grep -v '^10.77.1.16 ' "$SITE/client/known_hosts" >"$T/kh.no16"
FL_INV=$T/nokey.ini
sed -e "s|^known_hosts = .*|known_hosts = $T/kh.no16|" "$INV" >"$FL_INV"
mkrel v3b 1
t_check relay_unknown_key_exit expect_exit 3 fl push "$T/rel" --version 3.1 -l t06 --json
[ "$(hj t06 .state)" = hostkey ] && hj t06 .error | grep -q 'no host key' && pass relay_unknown_key_refused ||
	fail relay_unknown_key_refused "t06: $(hj t06 .state): $(hj t06 .error)"
unset FL_INV

# ---- the relay dies mid fan-out ---------------------------------------------------------------
mkrel v4 2
# started as the command itself (not through fl, a function): $pid is the controller
ip netns exec "$SITE_CTL" "$FLEETCTL" -i "$INV" push "$T/rel" --version 4.0 -l site -o relay_parallel=2 \
    -o 'install=sleep 1' --json >"$T/die.json" 2>"$T/die.err" </dev/null &
pid=$!
i=0
while [ "$i" -lt 300 ]; do
	ndone=0
	for n in $TERMS; do
		case "$(link "$n")" in releases/4.0-*) ndone=$((ndone + 1)) ;; esac
	done
	[ "$ndone" -ge 2 ] && break
	sleep 0.1
	i=$((i + 1))
done
fleet_stop_one "$SITE" t01
wait "$pid"
rc=$?
T_STDOUT=$(cat "$T/die.json")
V4=$(hj t02 .release)
nunr=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host and .state == "unreachable") | .host' | wc -l)
nfail=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host and .state == "failed") | .host' | wc -l)
[ "$rc" = 3 ] && [ "$ndone" -ge 2 ] && [ "$nunr" -ge 1 ] && [ "$nfail" = 0 ] && pass relay_dies_unreachable ||
	fail relay_dies_unreachable "exit $rc, $ndone done before the cut, $nunr unreachable, $nfail failed"
printf '%s\n' "$T_STDOUT" | jq -r 'select(.host and .state == "unreachable") | .error' | grep -qv 'relay t01' &&
	fail relay_dies_named "an unreachable terminal's error does not name the relay" || pass relay_dies_named
bad=""
for n in $TERMS; do
	case "$(link "$n")" in "releases/$V3" | "releases/$V4") ;; *) bad="$bad $n:$(link "$n")" ;; esac
done
[ -z "$bad" ] && pass relay_dies_old_or_new || fail relay_dies_old_or_new "$bad"
# relay down: its terminals are unreachable, the relay named, nothing touched
t_check relay_down_exit expect_exit 3 fl push "$T/rel" --version 4.0 -l t03,t04 --json
hj t03 .error | grep -q '^relay t01' && [ "$(hj t03 .state)" = unreachable ] && pass relay_down_named ||
	fail relay_down_named "t03: $(hj t03 .state): $(hj t03 .error)"
fleet_start_one "$SITE" t01
t_check relay_back_push expect_exit 0 fl push "$T/rel" --version 4.0 -l site --json
t_check relay_back_all_on all_on "$V4"
git -C "$HIST" fsck --strict >/dev/null 2>&1 && pass relay_history_fsck || fail relay_history_fsck "git fsck failed"

# ---- the controller is killed mid fan-out, then resumes ---------------------------------------
mkrel v5 4
ip netns exec "$SITE_CTL" "$FLEETCTL" -i "$INV" push "$T/rel" --version 5.0 -l site -o relay_parallel=2 \
    -o 'install=sleep 1' >"$T/kill.out" 2>"$T/kill.err" </dev/null &
pid=$!
i=0
while [ "$i" -lt 300 ]; do
	ndone=0
	for n in $TERMS; do
		case "$(link "$n")" in releases/5.0-*) ndone=$((ndone + 1)) ;; esac
	done
	[ "$ndone" -ge 1 ] && break
	sleep 0.1
	i=$((i + 1))
done
# `ip netns exec` execs fleetctl itself: $pid is the controller
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
run=$(fl runs --json -n 1 2>/dev/null | jq -r .id)
b0=$(uplink)
t_check relay_resume_ok expect_exit 0 fl resume "$run" --json
b1=$(uplink)
V5=$(hj t02 .release)
t_check relay_resume_all_on all_on "$V5"
echo "# resume after the kill: $((b1 - b0)) bytes over the uplink"
[ $((b1 - b0)) -lt 1500000 ] && pass relay_resume_uses_cache || fail relay_resume_uses_cache "$((b1 - b0)) bytes over the uplink"
[ "$ndone" -ge 1 ] && [ "$ndone" -lt 10 ] && pass relay_kill_mid_fanout || fail relay_kill_mid_fanout "$ndone done at the kill"

# ---- a Dropbear terminal behind the relay -------------------------------------------------------
DBACC=fleetdb
DBPID=""
if command -v dropbear >/dev/null 2>&1; then
	id "$DBACC" >/dev/null 2>&1 || useradd -m -s /bin/sh "$DBACC" >/dev/null 2>&1
	dbhome=$(getent passwd "$DBACC" | cut -d: -f6)
	mkdir -p "$dbhome/.ssh" "$T/db/root"
	cat "$SITE/client/id_ed25519.pub" "$T/relaykey/id_ed25519.pub" >"$dbhome/.ssh/authorized_keys"
	chown -R "$DBACC:" "$dbhome/.ssh" "$T/db/root"
	chmod 700 "$dbhome/.ssh"
	chmod 755 "$T/db"
	dropbearkey -t ed25519 -f "$T/db/hostkey" >/dev/null 2>&1
	LANNS=$(site_ns "$SITE" t02)
	ip -n "$LANNS" addr add 10.77.1.40/24 dev br0
	printf '10.77.1.40 %s\n' "$(dropbearkey -y -f "$T/db/hostkey" | grep '^ssh-ed25519' | cut -d' ' -f1,2)" \
	    >>"$SITE/client/known_hosts"
	ip netns exec "$LANNS" dropbear -F -E -s -w -p 10.77.1.40:22 -r "$T/db/hostkey" -P "$T/db/pid" 2>>"$T/db/log" &
	DBPID=$!
	cp "$INV" "$T/inv.before-db1"
	printf '\n[host:db1]\naddress = 10.77.1.40\nuser = %s\nroot = %s\nrelay = t01\nrelay_identity = %s\n' \
	    "$DBACC" "$T/db/root" "$T/relaykey/id_ed25519" >>"$INV"
	i=0
	while [ "$i" -lt 100 ] && ! ip netns exec "$LANNS" ss -Htln 2>/dev/null | grep -q '10.77.1.40:22 '; do
		sleep 0.05
		i=$((i + 1))
	done
	mkrel v5b 1
	t_check relay_dropbear_terminal expect_exit 0 fl push "$T/rel" --version 5.1 -l db1 --json
	[ "$(hj db1 .relay)" = t01 ] && [ "$(readlink "$T/db/root/app/current")" = "releases/$(hj db1 .release)" ] &&
		pass relay_dropbear_terminal_on || fail relay_dropbear_terminal_on "relay $(hj db1 .relay), $(hj db1 .error)"
	kill "$DBPID" 2>/dev/null && wait "$DBPID" 2>/dev/null
	DBPID=""
	cp "$T/inv.before-db1" "$INV"
else
	fail relay_dropbear_terminal "dropbear is not installed (scripts/deps.sh installs dropbear-bin)"
fi

# ---- --no-relay: straight through the jump host, the bundle once per terminal ------------------
mkrel v6 1
b0=$(uplink)
t_check relay_no_relay_ok expect_exit 0 fl push "$T/rel" --version 6.0 -l site --no-relay -o keep=1 --json
b1=$(uplink)
[ $((b1 - b0)) -gt 9000000 ] && [ "$(hj t02 .relay)" = null ] && pass relay_no_relay_direct ||
	fail relay_no_relay_direct "uplink $((b1 - b0)), relay $(hj t02 .relay)"

# ---- rollback that re-uploads: from the relay's cache, nothing over the uplink -----------------
# keep = 1 above: the terminals hold 6.0 and 5.0 (previous) only; 4.0 must come back
b0=$(uplink)
t_check relay_rollback_reupload expect_exit 0 fl rollback -l site --to "$V4" -o keep=1 --json
b1=$(uplink)
t_check relay_rollback_all_on all_on "$V4"
[ "$(hj t02 .uploaded)" = true ] && [ $((b1 - b0)) -lt 500000 ] && pass relay_rollback_from_cache ||
	fail relay_rollback_from_cache "uploaded $(hj t02 .uploaded), uplink $((b1 - b0))"

# ---- pruning: an archive unused for 14 days goes, one of this run stays ------------------------
touch -d "20 days ago" "$T/rcache/cache/"*
mkrel v7 1
t_check relay_prune_push expect_exit 0 fl push "$T/rel" --version 7.0 -l site --json
n=$(ls "$T/rcache/cache" | wc -l)
[ "$n" = 1 ] && pass relay_cache_pruned || fail relay_cache_pruned "$n files: $(ls "$T/rcache/cache" | tr '\n' ' ')"
t_done
