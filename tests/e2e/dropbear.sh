#!/bin/sh
# e2e: a terminal whose sshd is Dropbear (dropbear-bin), started by the test on 127.0.0.1 with its own
# host key, checked strictly against known_hosts: push (full, then a delta, then --hardlink), status,
# rollback, exec and logs, with the remote scripts of this release (single-pass upload, delta recipe,
# tree check).
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 1
HIST=$FLEET/state/history
DB=$T/db
DBPID=""
ACCOUNT=fleetdb

db_cleanup() {
	[ -n "$DBPID" ] && kill "$DBPID" 2>/dev/null && wait "$DBPID" 2>/dev/null
	t_cleanup
}
trap db_cleanup EXIT

if ! command -v dropbear >/dev/null 2>&1; then
	fail dropbear_installed "dropbear is not installed (scripts/deps.sh installs dropbear-bin)"
	t_done
fi
# Dropbear reads ~ACCOUNT/.ssh/authorized_keys: an account of its own, with the test client's key.
id "$ACCOUNT" >/dev/null 2>&1 || useradd -m -s /bin/sh "$ACCOUNT" >/dev/null 2>&1
home=$(getent passwd "$ACCOUNT" | cut -d: -f6)
mkdir -p "$home/.ssh" "$DB/root"
cp "$FLEET/client/id_ed25519.pub" "$home/.ssh/authorized_keys"
chown -R "$ACCOUNT:" "$home/.ssh" "$DB/root"
chmod 700 "$home/.ssh"
chmod 600 "$home/.ssh/authorized_keys"
chmod 755 "$DB"
dropbearkey -t ed25519 -f "$DB/hostkey" >/dev/null 2>&1
port=$(fleet_free_ports 1)
printf '[127.0.0.1]:%s %s\n' "$port" "$(dropbearkey -y -f "$DB/hostkey" | grep '^ssh-ed25519' | cut -d' ' -f1,2)" \
    >>"$FLEET/client/known_hosts"
# db_start HOSTKEY: Dropbear on 127.0.0.1:$port in the foreground of a background job, its PID kept.
db_start() {
	local i=0
	dropbear -F -E -s -w -p "127.0.0.1:$port" -r "$1" -P "$DB/pid" 2>>"$DB/log" &
	DBPID=$!
	while [ "$i" -lt 100 ] && ! ss -Htln 2>/dev/null | grep -q "127.0.0.1:$port "; do
		sleep 0.05
		i=$((i + 1))
	done
}
db_start "$DB/hostkey"
cat >>"$INV" <<EOF

[host:db1]
address = 127.0.0.1
port = $port
user = $ACCOUNT
root = $DB/root
logs = $DB/root/app/current/log.txt
EOF

mkdir -p "$T/rel"
i=0
while [ "$i" -lt 40 ]; do
	head -c 50000 /dev/urandom >"$T/rel/part$i"
	i=$((i + 1))
done
echo "log line one" >"$T/rel/log.txt"
printf '#!/bin/sh\necho run\n' >"$T/rel/run"
chmod 755 "$T/rel/run"
t_check dropbear_exec expect_output 'db1: dropbear-ok' fl exec -l db1 -- 'echo dropbear-ok'
t_check dropbear_push_full expect_exit 0 fl push "$T/rel" --version 1.0 -l db1 --json
echo two >"$T/rel/part7"
t_check dropbear_push_delta expect_exit 0 fl push "$T/rel" --version 2.0 -l db1 --json
[ "$(hj db1 .delta)" = true ] && [ "$(hj db1 .bytes_sent)" -lt 100000 ] && pass dropbear_delta_small ||
	fail dropbear_delta_small "delta '$(hj db1 .delta)', sent '$(hj db1 .bytes_sent)', $(hj db1 .error)"
cmp -s "$DB/root/app/current/part7" "$T/rel/part7" && cmp -s "$DB/root/app/current/part3" "$T/rel/part3" &&
	pass dropbear_delta_content || fail dropbear_delta_content "content differs"
echo three >"$T/rel/part8"
t_check dropbear_push_hardlink expect_exit 0 fl push "$T/rel" --version 3.0 -l db1 --hardlink --json
[ "$(hj db1 .delta)" = true ] && pass dropbear_hardlink_delta || fail dropbear_hardlink_delta "$(hj db1 .error)"
t_check dropbear_status expect_output 'db1 .*in sync' fl status -l db1
t_check dropbear_logs expect_output 'log line one' fl logs -l db1
t_check dropbear_rollback expect_exit 0 fl rollback -l db1 --json
case "$(readlink "$DB/root/app/current")" in releases/2.0-*) pass dropbear_rolled_back ;;
*) fail dropbear_rolled_back "current -> $(readlink "$DB/root/app/current")" ;; esac
# A key the terminal does not know: auth (not unreachable), naming the user.
ssh-keygen -q -t ed25519 -N '' -f "$T/other" >/dev/null 2>&1
t_check dropbear_wrong_key_exit_3 expect_exit 3 fl -o identity="$T/other" exec -l db1 --json -- true
case "$(hj db1 .state) $(hj db1 .error)" in "auth "*"'$ACCOUNT'"*) pass dropbear_wrong_key_is_auth ;;
*) fail dropbear_wrong_key_is_auth "$(hj db1 .state) $(hj db1 .error)" ;; esac
# A changed host key is refused, named.
dropbearkey -t ed25519 -f "$DB/hostkey2" >/dev/null 2>&1
kill "$DBPID" 2>/dev/null
wait "$DBPID" 2>/dev/null
db_start "$DB/hostkey2"
t_check dropbear_changed_key_refused expect_output 'db1: hostkey' fl exec -l db1 -- true

t_done
