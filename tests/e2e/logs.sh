#!/bin/sh
# e2e: `fleetctl logs` against real sshd terminals: last lines, --grep, --since, -o (whole files,
# gzip on the wire, resume of a cut download, bounded memory for a 200 MB log), and -f (several
# terminals at once, reconnect after a terminal drops, Ctrl-C).
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 3
user=$(sed -n 's/^user = //p' "$INV")

# mkinv GLOB OUT: the fleet's inventory with `logs = $FLEET/tNN/root/GLOB` in every [host:tNN]
# section, so each terminal's globs point into its own root.
mkinv() {
	awk -v dir="$FLEET" -v glob="$1" '
		{ print }
		/^\[host:t[0-9]+\]$/ { h = substr($0, 7, length($0) - 7) }
		/^root = / && h != "" { print "logs = " dir "/" h "/root/" glob; h = "" }' "$FLEET/fleet.ini" >"$2"
}
mkinv 'log/*.log' "$T/fleet.ini"
mkinv 'follow/*.log' "$T/follow.ini"
INV=$T/fleet.ini

# mklog NAME FILE: FILE (stdin) becomes a log of terminal NAME, owned by the login account.
mklog() {
	mkdir -p "$FLEET/$1/root/log"
	cat >"$FLEET/$1/root/log/$2"
	chown -R "$user:" "$FLEET/$1/root/log" 2>/dev/null || true
}
for n in t01 t02 t03; do
	i=1
	while [ "$i" -le 20 ]; do
		if [ $((i % 4)) -eq 0 ]; then echo "$n line $i code E10$((i + 10)) failed"; else echo "$n line $i ok"; fi
		i=$((i + 1))
	done | mklog "$n" app.log
done

# ---- last lines ----
want=$(for n in t01 t02 t03; do tail -n 5 "$FLEET/$n/root/log/app.log" | sed "s/^/$n: /"; done)
t_check logs_n5_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" logs -n 5
[ "$T_STDOUT" = "$want" ] && pass logs_n5_last_lines_prefixed_in_order ||
	fail logs_n5_last_lines_prefixed_in_order "got: $(printf '%s' "$T_STDOUT" | head -n 4 | tr '\n' '|')"

t_check logs_grep_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" logs --grep 'E[0-9]{4}'
want=$(for n in t01 t02 t03; do grep -E 'E[0-9]{4}' "$FLEET/$n/root/log/app.log" | sed "s/^/$n: /"; done)
[ "$T_STDOUT" = "$want" ] && [ -n "$want" ] && pass logs_grep_only_matching_lines ||
	fail logs_grep_only_matching_lines "got: $(printf '%s' "$T_STDOUT" | head -n 4 | tr '\n' '|')"

# The regex reaches grep as one quoted word: nothing in it runs on the terminal.
t_check logs_grep_is_quoted expect_exit 0 "$FLEETCTL" -i "$INV" logs -l t01 --grep "x'\$(touch $FLEET/t01/root/pwned)'|line 3 "
if [ ! -e "$FLEET/t01/root/pwned" ] && [ "$T_STDOUT" = "t01: t01 line 3 ok" ]; then pass logs_grep_no_injection
else fail logs_grep_no_injection "pwned file exists or output '$T_STDOUT'"; fi

t_check logs_bad_regex_exits_2 expect_exit 2 "$FLEETCTL" -i "$INV" logs --grep 'a('

# Several files on one terminal: "NAME: FILE: line".
printf 'other 1\nother 2\n' | mklog t02 zz.log
t_check logs_two_files_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" logs -l t02 -n 1
want="t02: $FLEET/t02/root/log/app.log: t02 line 20 code E1030 failed
t02: $FLEET/t02/root/log/zz.log: other 2"
[ "$T_STDOUT" = "$want" ] && pass logs_two_files_named || fail logs_two_files_named "got: $T_STDOUT"
rm -f "$FLEET/t02/root/log/zz.log"

# ---- --since: lines 3 hours old and 1 hour old; a line without a time follows the one before ----
old=$(date -d '3 hours ago' '+%Y-%m-%d %H:%M:%S')
new=$(date -d '1 hour ago' '+%Y-%m-%dT%H:%M:%S')
printf '%s old one\n  old continuation\n%s new one\n  new continuation\n%s old again\n%s new two\n' \
	"$old" "$new" "$old" "$new" | mklog t03 since.log
t_check logs_since_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" logs -l t03 --path "$FLEET/t03/root/log/since.log" --since '2 hours ago'
want="t03: $new new one
t03:   new continuation
t03: $new new two"
[ "$T_STDOUT" = "$want" ] && pass logs_since_keeps_only_newer || fail logs_since_keeps_only_newer "got: $T_STDOUT"
t_check logs_since_bad_time_exits_2 expect_exit 2 "$FLEETCTL" -i "$INV" logs --since 'the other day'

# ---- failures ----
t_check logs_no_match_exits_1 expect_exit 1 "$FLEETCTL" -i "$INV" logs --path "$FLEET/nothing/*.log"
t_check logs_no_match_says_so expect_output "t01: .*no log file matches '$FLEET/nothing/\*\.log'" \
	"$FLEETCTL" -i "$INV" logs --path "$FLEET/nothing/*.log"
fleet_stop_one "$FLEET" t03
t_check logs_unreachable_exits_3 expect_exit 3 "$FLEETCTL" -i "$INV" logs -n 1
printf '%s\n' "$T_STDOUT" | grep -q '^t01: ' && pass logs_unreachable_others_still_shown ||
	fail logs_unreachable_others_still_shown "got: $T_STDOUT"
fleet_start_one "$FLEET" t03

# ---- --json ----
t_check logs_json_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" logs -n 2 --json
got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host) | "\(.host) \(.state) \(.files[0].lines | join("|"))"' | tr '\n' ';')
want="t01 ok t01 line 19 ok|t01 line 20 code E1030 failed;t02 ok t02 line 19 ok|t02 line 20 code E1030 failed;t03 ok t03 line 19 ok|t03 line 20 code E1030 failed;"
[ "$got" = "$want" ] && pass logs_json_per_terminal || fail logs_json_per_terminal "got: $got"

# ---- -o: whole files ----
# A 2 MB log of varied lines for t01.
i=0
while [ "$i" -lt 20000 ]; do echo "2026-11-26 10:00:00 entry $i $(( (i * 7919) % 10007 )) payload abcdefghijklmnopqrstuvwxyz"; i=$((i + 1)); done |
	mklog t01 big.log
out=$T/out
t_check logs_o_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" logs -o "$out"
ok=1
for n in t01 t02 t03; do
	for f in "$FLEET/$n/root/log/"*.log; do
		[ "$(sha256sum <"$out/$n$f" 2>/dev/null)" = "$(sha256sum <"$f")" ] || { ok=0; echo "# differs: $n $f"; }
	done
done
[ "$ok" = 1 ] && pass logs_o_saves_whole_files || fail logs_o_saves_whole_files "hash mismatch"
[ -z "$(find "$out" -name '*.part')" ] && pass logs_o_no_part_left || fail logs_o_no_part_left "$(find "$out" -name '*.part')"
printf '%s\n' "$T_STDOUT" | grep -q "^t01: $FLEET/t01/root/log/big.log -> $out/t01$FLEET/t01/root/log/big.log (.* with gzip)" &&
	pass logs_o_gzip_on_the_wire || fail logs_o_gzip_on_the_wire "got: $T_STDOUT"

# A cut download resumes: .part holds the first half; only the rest crosses the network.
big=$FLEET/t01/root/log/big.log
size=$(wc -c <"$big")
half=$((size / 2))
rm -rf "$out"
mkdir -p "$out/t01$FLEET/t01/root/log"
head -c "$half" "$big" >"$out/t01$FLEET/t01/root/log/big.log.part"
t_check logs_o_resume_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" logs -l t01 --path "$big" -o "$out" --json
[ "$(sha256sum <"$out/t01$big")" = "$(sha256sum <"$big")" ] && pass logs_o_resume_right_bytes ||
	fail logs_o_resume_right_bytes "hash mismatch"
got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host) | .files[0] | "\(.resumed_from) \(.complete)"')
[ "$got" = "$half true" ] && pass logs_o_resume_used_part || fail logs_o_resume_used_part "got '$got', want '$half true'"
[ ! -e "$out/t01$big.part" ] && pass logs_o_resume_part_renamed || fail logs_o_resume_part_renamed ".part still there"

# Run the resume again and count what crossed: the gzip of the second half, well under the whole.
rm -f "$out/t01$big"
head -c "$half" "$big" >"$out/t01$big.part"
whole_gz=$(gzip -c <"$big" | wc -c)
t_check logs_o_resume2_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" logs -l t01 --path "$big" -o "$out" --json
wire=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host) | .files[0].wire_bytes')
if [ -n "$wire" ] && [ "$wire" -lt $((whole_gz * 3 / 4)) ] && [ "$wire" -gt 0 ]; then pass logs_o_resume_less_crossed
else fail logs_o_resume_less_crossed "wire $wire bytes, the whole file gzipped is $whole_gz"; fi

# A .part that is not the start of the remote file (rotated log) is fetched again from byte 0.
rm -f "$out/t01$big"
head -c "$half" "$big" | tr 'a-z' 'A-Z' >"$out/t01$big.part"
t_check logs_o_bad_part_exit_0 expect_exit 0 "$FLEETCTL" -i "$INV" logs -l t01 --path "$big" -o "$out" --json
got=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.host) | .files[0].resumed_from')
if [ "$got" = 0 ] && [ "$(sha256sum <"$out/t01$big")" = "$(sha256sum <"$big")" ]; then pass logs_o_bad_part_refetched
else fail logs_o_bad_part_refetched "resumed_from '$got'"; fi

t_check logs_o_with_grep_exits_2 expect_exit 2 "$FLEETCTL" -i "$INV" logs -o "$out" --grep x

# ---- memory: a 200 MB log needs no more memory than a 20 MB one ----
rss() {
	# $1 size in bytes; prints the peak RSS in KiB of fetching a log of that size
	yes '2026-11-26 10:00:00 kiosk app: heartbeat ok, queue empty, printer ready, temp 41C' |
		head -c "$1" | mklog t02 "mem$1.log"
	/usr/bin/time -f '%M' -o "$T/rss" "$FLEETCTL" -i "$INV" logs -l t02 --path "$FLEET/t02/root/log/mem$1.log" \
		-o "$T/mem" >/dev/null 2>"$T/mem.err" || { echo "# $(cat "$T/mem.err")"; return 1; }
	cmp -s "$T/mem/t02$FLEET/t02/root/log/mem$1.log" "$FLEET/t02/root/log/mem$1.log" || { echo "# mem$1 differs"; return 1; }
	rm -f "$T/mem/t02$FLEET/t02/root/log/mem$1.log" "$FLEET/t02/root/log/mem$1.log"
	tail -n 1 "$T/rss"
}
if r20=$(rss 20000000) && r200=$(rss 200000000); then
	echo "# peak RSS: 20 MB log ${r20} KiB, 200 MB log ${r200} KiB"
	if [ "$r200" -lt 204800 ] && [ $((r200 - r20)) -lt 30720 ]; then pass logs_o_memory_bounded
	else fail logs_o_memory_bounded "20 MB: $r20 KiB, 200 MB: $r200 KiB"; fi
else
	fail logs_o_memory_bounded "fetch failed"
fi

# ---- -f: two terminals at once, a terminal drops and comes back, Ctrl-C ----
for n in t01 t02; do
	mkdir -p "$FLEET/$n/root/follow"
	printf '%s old\n%s start\n' "$n" "$n" >"$FLEET/$n/root/follow/f.log"
	chown -R "$user:" "$FLEET/$n/root/follow" 2>/dev/null || true
done
: >"$T/follow.out"
"$FLEETCTL" -i "$T/follow.ini" logs -l t01,t02 -f -n 1 >"$T/follow.out" 2>"$T/follow.err" </dev/null &
fpid=$!
# wait_for ERE SECONDS: until follow.out has a line matching ERE.
wait_for() {
	local k=0
	while [ "$k" -lt $(($2 * 10)) ]; do
		grep -qE -- "$1" "$T/follow.out" && return 0
		sleep 0.1
		k=$((k + 1))
	done
	T_WHY="no line matching '$1' after $2 s; got: $(tr '\n' '|' <"$T/follow.out")"
	return 1
}
t_check logs_f_initial_lines wait_for '^t02: t02 start$' 15
t_check logs_f_initial_lines_t01 wait_for '^t01: t01 start$' 5
if grep -q ' old$' "$T/follow.out"; then fail logs_f_n1_only_last_line "$(tr '\n' '|' <"$T/follow.out")"
else pass logs_f_n1_only_last_line; fi
# The check that nothing is left tailing after Ctrl-C can fail: now there is.
if ps -eo args= | grep -v grep | grep -q -- "$FLEET/t01/root/follow/f.log"; then pass logs_f_tail_runs_on_terminal
else fail logs_f_tail_runs_on_terminal "no tail process for t01's log"; fi
echo "t01 appended" >>"$FLEET/t01/root/follow/f.log"
echo "t02 appended" >>"$FLEET/t02/root/follow/f.log"
t_check logs_f_new_lines_t01 wait_for '^t01: t01 appended$' 10
t_check logs_f_new_lines_t02 wait_for '^t02: t02 appended$' 10
fleet_stop_one "$FLEET" t02
t_check logs_f_lost_marker wait_for '^t02: -- connection lost, reconnecting in 1 s --$' 15
echo "t02 during outage" >>"$FLEET/t02/root/follow/f.log"
echo "t01 during outage" >>"$FLEET/t01/root/follow/f.log"
t_check logs_f_other_terminal_goes_on wait_for '^t01: t01 during outage$' 10
fleet_start_one "$FLEET" t02
t_check logs_f_reconnected_marker wait_for '^t02: -- reconnected --$' 40
t_check logs_f_no_line_lost wait_for '^t02: t02 during outage$' 10
echo "t02 after" >>"$FLEET/t02/root/follow/f.log"
t_check logs_f_after_reconnect wait_for '^t02: t02 after$' 10
n_start=$(grep -c '^t02: t02 start$' "$T/follow.out")
[ "$n_start" = 1 ] && pass logs_f_no_duplicates_after_reconnect || fail logs_f_no_duplicates_after_reconnect "t02 start shown $n_start times"
kill -INT "$fpid"
k=0
while kill -0 "$fpid" 2>/dev/null && [ "$k" -lt 100 ]; do sleep 0.1; k=$((k + 1)); done
if kill -0 "$fpid" 2>/dev/null; then
	kill -KILL "$fpid"
	fail logs_f_ctrl_c_exits "still running 10 s after SIGINT"
else
	wait "$fpid"
	frc=$?
	[ "$frc" = 130 ] && pass logs_f_ctrl_c_exits_130 || fail logs_f_ctrl_c_exits_130 "exit $frc; $(head -c 600 "$T/follow.err")"
fi
if grep -qE 'Sanitizer|runtime error' "$T/follow.err"; then fail logs_f_sanitizer_clean "$(head -c 600 "$T/follow.err")"
else pass logs_f_sanitizer_clean; fi
# Nothing is left tailing on the terminals (the watchdog polls every 2 s).
k=0
while ps -eo args= | grep -v grep | grep -q -- "$FLEET/t0[12]/root/follow/f.log" && [ "$k" -lt 80 ]; do sleep 0.1; k=$((k + 1)); done
if ps -eo args= | grep -v grep | grep -q -- "$FLEET/t0[12]/root/follow/f.log"; then
	fail logs_f_no_tail_left "$(ps -eo pid=,args= | grep -v grep | grep -- "$FLEET/t0[12]/root/follow/f.log" | head -n 3)"
else
	pass logs_f_no_tail_left
fi

t_done
