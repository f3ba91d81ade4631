#!/bin/bash
# e2e oracle: lib/sshconfig against the real OpenSSH client.  For a corpus of ssh_config files this
# script writes itself, every host's values from tests/tools/sshcfg_dump (lib/sshconfig.c) are compared
# keyword by keyword with `ssh -G -F FILE HOST`.  Self-contained (no tests/lib.sh); needs gcc and ssh.
#
# The comparison, per supported keyword:
#   - fleetctl has a value  -> ssh -G shows the same value (normalised: stricthostkeychecking
#     true/ask -> yes, false -> no; known-hosts lists -> first file; identityfile raw tokens are
#     expanded here from ssh -G's own hostname/port/user lines, since ssh 9.2 prints them unexpanded);
#   - fleetctl has no value -> ssh -G shows exactly what it shows for the same host with an empty
#     configuration (-F /dev/null), i.e. the configuration did not set it.
# Malformed configurations must be rejected by both.
set -u
export LC_ALL=C

cd "$(dirname "$0")/../.." || exit 1
root=$(pwd)
tmp=$(mktemp -d /tmp/sshcfg-oracle.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT

failed=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1 ($2)"; failed=1; }

if ! command -v ssh >/dev/null 2>&1; then
	fail sshconfig_oracle_setup "ssh client not installed"
	exit 1
fi

dump=$tmp/sshcfg_dump
if ! ${CC:-gcc} -std=c17 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined \
	-fno-omit-frame-pointer -o "$dump" tests/tools/sshcfg_dump.c lib/sshconfig.c lib/util.c \
	>"$tmp/cc.log" 2>&1; then
	fail sshconfig_oracle_build "$(head -c 300 "$tmp/cc.log")"
	exit 1
fi

# ssh expands ~ and %d with the passwd entry, not $HOME; run both with HOME set to it.
pwhome=$(getent passwd "$(id -u)" | cut -d: -f6)
luser=$(id -un)
export HOME=$pwhome

# val FILE KEY: the value(s) of KEY in a "key value" listing, one per line.
val() { awk -v k="$2" '$1 == k { sub(/^[^ ]+ /, ""); print }' "$1"; }

norm_ssh() { # KEY VALUE -> the value as lib/sshconfig reports it
	case "$1" in
	stricthostkeychecking)
		case "$2" in true | ask) echo yes ;; false) echo no ;; *) echo "$2" ;; esac ;;
	userknownhostsfile | globalknownhostsfile) echo "${2%% *}" ;;
	*) echo "$2" ;;
	esac
}

# expand_id RAW NAME HOST PORT RUSER: ssh's IdentityFile expansion, for comparing with ssh -G's raw lines.
expand_id() {
	RAW=$1 N=$2 H=$3 P=$4 R=$5 D=$pwhome U=$luser perl -e '
		my $s = $ENV{RAW};
		$s =~ s{^~(/|$)}{$ENV{D}/};
		my %t = (n => $ENV{N}, h => $ENV{H}, p => $ENV{P}, r => $ENV{R}, d => $ENV{D},
		    u => $ENV{U}, "%" => "%");
		$s =~ s/%([nhprdu%])/$t{$1}/g;
		print "$s\n";'
}

keys="hostname user port identitiesonly identityagent proxyjump userknownhostsfile
globalknownhostsfile stricthostkeychecking connecttimeout serveraliveinterval serveralivecountmax"

# check NAME CONFIG HOST [-l USER]: one test case.
check() {
	local name=$1 cfg=$2 host=$3 lopt=() why="" k f s d
	shift 3
	[ $# -ge 2 ] && lopt=("$1" "$2")
	ssh -G -F "$cfg" "${lopt[@]}" "$host" >"$tmp/ssh.out" 2>"$tmp/ssh.err" </dev/null ||
		{ fail "$name" "ssh -G failed: $(head -c 200 "$tmp/ssh.err")"; return; }
	ssh -G -F /dev/null "${lopt[@]}" "$host" >"$tmp/def.out" 2>/dev/null </dev/null ||
		{ fail "$name" "ssh -G -F /dev/null failed"; return; }
	"$dump" -F "$cfg" "${lopt[@]}" "$host" >"$tmp/fc.out" 2>"$tmp/fc.err" ||
		{ fail "$name" "sshcfg_dump failed: $(head -c 200 "$tmp/fc.out" "$tmp/fc.err")"; return; }
	if grep -q '^\(error\|warning\) ' "$tmp/fc.out"; then
		fail "$name" "unexpected: $(grep '^\(error\|warning\) ' "$tmp/fc.out" | head -1)"
		return
	fi
	for k in $keys; do
		f=$(val "$tmp/fc.out" "$k")
		s=$(val "$tmp/ssh.out" "$k")
		d=$(val "$tmp/def.out" "$k")
		if [ -n "$f" ]; then
			[ "$f" = "$(norm_ssh "$k" "$s")" ] || why="$why $k: fleetctl '$f' ssh '$s';"
		elif [ "$s" != "$d" ]; then
			why="$why $k: fleetctl unset but ssh '$s' (default '$d');"
		fi
	done
	# IdentityFile: ordered list, expanded with ssh's own final hostname/port/user.
	f=$(val "$tmp/fc.out" identityfile)
	if [ -n "$f" ]; then
		local h p r line exp=""
		h=$(val "$tmp/ssh.out" hostname)
		p=$(val "$tmp/ssh.out" port)
		r=$(val "$tmp/ssh.out" user)
		while IFS= read -r line; do
			exp="$exp$(expand_id "$line" "$host" "$h" "$p" "$r")"$'\n'
		done < <(val "$tmp/ssh.out" identityfile)
		[ "$f"$'\n' = "$exp" ] || why="$why identityfile: fleetctl [$(echo $f)] ssh [$(echo $exp)];"
	elif [ "$(val "$tmp/ssh.out" identityfile)" != "$(val "$tmp/def.out" identityfile)" ]; then
		why="$why identityfile: fleetctl unset but ssh sets it;"
	fi
	# The case must exercise the configuration: at least one value set (unless told otherwise).
	if [ -z "$why" ] && [ "${EXPECT_EMPTY:-0}" != 1 ] && ! grep -qv '^host ' "$tmp/fc.out"; then
		why="no value resolved (corpus case does not exercise anything)"
	fi
	if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; fi
}

# reject NAME CONFIG: both ssh and sshconfig refuse the file.
reject() {
	local name=$1 cfg=$2
	if ssh -G -F "$cfg" somehost >/dev/null 2>&1 </dev/null; then
		fail "$name" "ssh accepted the corpus file: the case is wrong"
	elif "$dump" -F "$cfg" somehost >"$tmp/fc.out" 2>&1; then
		fail "$name" "sshconfig accepted what ssh rejects"
	elif ! grep -q "^error $cfg:[0-9][0-9]*: " "$tmp/fc.out"; then
		fail "$name" "no FILE:LINE error: $(head -c 200 "$tmp/fc.out")"
	else
		pass "$name"
	fi
}

# --- corpus -------------------------------------------------------------------------------------
c=$tmp/wild.conf
cat >"$c" <<'EOF'
# wildcards
Host web-?? db*
  User alice
  Port 2201
Host *.example.com
  HostName %h.internal
  ConnectTimeout 7
Host *
  ServerAliveInterval 1m30s
  ServerAliveCountMax 5
EOF
for h in web-01 web-1 dbmain x.example.com Other; do check "oracle_wildcards_$h" "$c" "$h"; done

c=$tmp/neg.conf
cat >"$c" <<'EOF'
Host kiosk* !kiosk-test*
  User kiosk
  IdentityFile ~/.ssh/id_kiosk
Host kiosk-test*
  User tester
Host atm1 atm2
Host atm3
  Port 2022
Host !atm1 atm*
  StrictHostKeyChecking accept-new
Host atm1
  StrictHostKeyChecking no
Host *
  StrictHostKeyChecking ask
  IdentitiesOnly yes
EOF
for h in kiosk07 kiosk-test1 atm1 atm2 atm3 zzz; do check "oracle_negation_$h" "$c" "$h"; done

c=$tmp/dup.conf
cat >"$c" <<'EOF'
Host dup
  Port 1111
  Port 2222
  User first
Host d*
  User second
  IdentityFile ~/.ssh/id_a
  IdentityFile /keys/id_%h_%r
  IdentityFile ~/.ssh/id_a
Host *
  IdentityFile %d/.ssh/id_%u_%p
  UserKnownHostsFile ~/.ssh/kh_%n_%%_%h %d/other
  GlobalKnownHostsFile /etc/ssh/kh_global /etc/ssh/kh2
  IdentityAgent ~/agent.%r.sock
  ProxyJump jump@bastion:2200
EOF
for h in dup dx Mixed; do check "oracle_duplicates_$h" "$c" "$h"; done

mkdir -p "$tmp/inc"
cat >"$tmp/inc/base-1.conf" <<'EOF'
Host a1
  HostName one.example
EOF
cat >"$tmp/inc/base-2.conf" <<'EOF'
Host a2
  HostName two.example
Host *
  ConnectTimeout 3
EOF
cat >"$tmp/inc/hostonly.conf" <<'EOF'
User incuser
Host zzz
  Port 9
Match all
  ServerAliveCountMax 9
EOF
c=$tmp/include.conf
cat >"$c" <<EOF
Include $tmp/inc/base-*.conf
Port 2500
Host inc*
  Include "$tmp/inc/hostonly.conf" $tmp/inc/missing-*.conf
  Port 4000
Host *
  User fallback
EOF
for h in a1 a2 inc1 other zzz; do check "oracle_include_$h" "$c" "$h"; done

c=$tmp/match.conf
cat >"$c" <<'EOF'
Host alias1
  HostName real1.example
Host alias2
  HostName 10.0.0.2
Match host real1.example
  Port 3001
Match host 10.0.0.*
  User ipuser
Match originalhost alias*
  ConnectTimeout 11
Match user bob
  IdentityFile /keys/bob
Match !host real*,10.* user root,bob
  ServerAliveInterval 13
Match all
  ServerAliveCountMax 4
EOF
for h in alias1 alias2 real1.example ALIAS1 plain; do check "oracle_match_$h" "$c" "$h"; done
check oracle_match_user_bob "$c" plain -l bob
check oracle_match_user_bob_alias "$c" alias1 -l bob

c=$tmp/syntax.conf
cat >"$c" <<'EOF'
Host=quoted "q*2"   # trailing comment
  HostName = q.example
  User="quser"
	Port=2345
Host   tabs	 other
  IdentityFile "/keys/with space"
  UserKnownHostsFile=/kh/one /kh/two
Host *
  STRICTHOSTKEYCHECKING off
  ForwardAgent yes
  SendEnv LANG LC_*
EOF
for h in quoted q-2 tabs other; do check "oracle_syntax_$h" "$c" "$h"; done

# Relative Include with -F: relative to ~/.ssh, which glob(3) takes from $HOME.
mkdir -p "$tmp/home/.ssh/rel"
cat >"$tmp/home/.ssh/rel/10-a.conf" <<'EOF'
Host rel1
  Port 1001
EOF
cat >"$tmp/home/.ssh/rel/20-b.conf" <<'EOF'
Host rel*
  Port 1002
  User reluser
EOF
c=$tmp/relative.conf
printf 'Include rel/*.conf\n' >"$c"
for h in rel1 rel2; do HOME=$tmp/home check "oracle_relative_include_$h" "$c" "$h"; done
EXPECT_EMPTY=1 HOME=$tmp/home check oracle_relative_include_nomatch "$c" other

printf 'Host x\n  Port abc\n' >"$tmp/bad-port.conf"
reject oracle_reject_bad_port "$tmp/bad-port.conf"
printf 'User u\nHost\n  Port 22\n' >"$tmp/bad-host.conf"
reject oracle_reject_host_without_pattern "$tmp/bad-host.conf"
printf 'Host x\n  User "unterminated\n' >"$tmp/bad-quote.conf"
reject oracle_reject_unterminated_quote "$tmp/bad-quote.conf"
printf 'Host x\n  ConnectTimeout 5x\n' >"$tmp/bad-time.conf"
reject oracle_reject_bad_time "$tmp/bad-time.conf"

exit $failed
