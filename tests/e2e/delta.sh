#!/bin/sh
# e2e: delta push against real sshd terminals: only what a terminal lacks travels (files it holds in
# any installed release are copied there, a big file changed in places travels as blocks), the tree
# is the same as a full push's, a damaged or missing base falls back to the full bundle in the same
# run, a cut delta upload resumes, --no-delta, --dry-run, the figures in --json and the history, and
# a terminal whose tools are all busybox.
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 6
HIST=$FLEET/state/history

# tree TNN: every entry under current (path, type, mode, size, SHA-256 or link target), sorted.
tree() {
	(cd "$FLEET/$1/root/app/current/" && find . -mindepth 1 ! -name .fleetctl-manifest -printf '%P %y %m %s %l\n' | sort |
	    while read -r p y m s l; do
		if [ "$y" = f ]; then
			echo "$p $y $m $s $(sha256sum <"$p" | cut -c1-64)"
		else
			echo "$p $y $m $s $l"
		fi
	done)
}
same_tree() {
	if [ "$(tree "$1")" != "$(tree "$2")" ]; then
		T_WHY="$1 and $2 differ"
		diff "$T/.t1" "$T/.t2" 2>/dev/null | head -n 10 | sed 's/^/# /'
		tree "$1" >"$T/.t1"
		tree "$2" >"$T/.t2"
		diff "$T/.t1" "$T/.t2" | head -n 10 | sed 's/^/# /'
		return 1
	fi
	return 0
}

# Release 1: 40 files of 100 kB in 4 directories, a 16 MiB file, a script, a link: about 20 MB.
R=$T/rel
mkdir -p "$R/bin" "$R/conf" "$R/data"
for d in 0 1 2 3; do
	mkdir -p "$R/lib$d"
	for f in 0 1 2 3 4 5 6 7 8 9; do
		head -c 100000 /dev/urandom >"$R/lib$d/part$f.bin"
	done
done
head -c 16777216 /dev/urandom >"$R/data/big.db"
printf '#!/bin/sh\necho run\n' >"$R/bin/run"
chmod 755 "$R/bin/run"
printf 'colour = blue\n' >"$R/conf/settings"
printf 'to be removed\n' >"$R/conf/old"
printf 'a tool\n' >"$R/bin/tool"
ln -s bin/run "$R/run"
run fl bundle "$R" --version 1.0 -o "$T/r1.tar.gz"
t_check delta_first_push_full expect_exit 0 fl push "$T/r1.tar.gz" --json
[ "$(hj t01 .delta)" = false ] && pass delta_first_push_is_not_a_delta || fail delta_first_push_is_not_a_delta "t01 delta '$(hj t01 .delta)'"

# Release 2: one small file changed.  t01, t02 get a delta; t03 the full bundle, to compare.
printf 'colour = green\n' >"$R/conf/settings"
run fl bundle "$R" --version 2.0 -o "$T/r2.tar.gz"
size2=$(stat -c %s "$T/r2.tar.gz")
t_check delta_push_ok expect_exit 0 fl push "$T/r2.tar.gz" -l t01,t02 --json
sent=$(hj t01 .bytes_sent)
echo "# release 2: $size2 bytes; t01 got $sent bytes ($(hj t01 .files_reused) files reused)"
if [ "$(hj t01 .delta)" = true ] && [ "${sent:-999999999}" -lt $((size2 / 100)) ]; then
	pass delta_one_file_sends_under_1pct
else
	fail delta_one_file_sends_under_1pct "delta '$(hj t01 .delta)', sent '$sent' of $size2"
fi
[ "$(hj t01 .bytes_reused)" -gt 20000000 ] && pass delta_bytes_reused_reported || fail delta_bytes_reused_reported "bytes_reused '$(hj t01 .bytes_reused)'"
t_check delta_no_delta_ok expect_exit 0 fl push "$T/r2.tar.gz" -l t03 --no-delta --json
[ "$(hj t03 .delta)" = false ] && [ "$(hj t03 .bytes_sent)" -eq "$size2" ] && pass delta_no_delta_sends_all ||
	fail delta_no_delta_sends_all "t03: delta '$(hj t03 .delta)', sent '$(hj t03 .bytes_sent)' of $size2"
t_check delta_tree_same_as_full same_tree t01 t03
git -C "$HIST" log -2 --format=%B | grep -qE "^t01 ok .*sent=$sent reused=[0-9]+" && pass delta_history_records_bytes ||
	fail delta_history_records_bytes "$(git -C "$HIST" log -2 --format=%B | grep '^t0' | head -n 3)"
left=$(find "$FLEET/t01/root/app/.fleet/tmp" "$FLEET/t01/root/app/.fleet/incoming" -mindepth 1)
[ -z "$left" ] && pass delta_no_leftovers || fail delta_no_leftovers "$left"

# Release 3: a file removed, one renamed, an exec bit set, 4 KiB changed in the middle of the 16 MiB file.
rm "$R/conf/old"
mv "$R/lib0/part0.bin" "$R/lib0/renamed.bin"
chmod 755 "$R/bin/tool"
printf '%4096s' x | dd of="$R/data/big.db" bs=4096 seek=2000 conv=notrunc 2>/dev/null
run fl bundle "$R" --version 3.0 -o "$T/r3.tar.gz"
t_check delta_dry_run expect_output 'would upload [0-9]+ bytes as a delta: reuses 43 files.*1 file by blocks \(255/256' \
    fl push "$T/r3.tar.gz" -l t01 --dry-run
t_check delta_push3_ok expect_exit 0 fl push "$T/r3.tar.gz" -l t01,t03 --json
sent=$(hj t01 .bytes_sent)
echo "# release 3: t01 got $sent bytes"
[ "$(hj t01 .delta)" = true ] && [ "${sent:-99999999}" -lt 1048576 ] && pass delta_big_file_blocks_under_1mib ||
	fail delta_big_file_blocks_under_1mib "delta '$(hj t01 .delta)', sent '$sent'"
t_check delta_tree3_same_as_full same_tree t01 t03
[ ! -e "$FLEET/t01/root/app/current/conf/old" ] && pass delta_removed_file_gone || fail delta_removed_file_gone "conf/old is there"
[ -x "$FLEET/t01/root/app/current/bin/tool" ] && pass delta_exec_bit_applied || fail delta_exec_bit_applied "bin/tool not executable"
cmp -s "$FLEET/t01/root/app/current/data/big.db" "$R/data/big.db" && pass delta_big_file_rebuilt || fail delta_big_file_rebuilt "big.db differs"

# Any to any: t02 is on 2.0 with 1.0 installed too; release 4 brings back 1.0's settings file.
printf 'colour = blue\n' >"$R/conf/settings"
run fl bundle "$R" --version 4.0 -o "$T/r4.tar.gz"
t_check delta_any_to_any_ok expect_exit 0 fl push "$T/r4.tar.gz" -l t02 --json
[ "$(hj t02 .delta)" = true ] && [ "$(hj t02 .bytes_sent)" -lt 1048576 ] && pass delta_any_to_any_small ||
	fail delta_any_to_any_small "delta '$(hj t02 .delta)', sent '$(hj t02 .bytes_sent)'"
cmp -s "$FLEET/t02/root/app/current/data/big.db" "$R/data/big.db" && pass delta_any_to_any_content || fail delta_any_to_any_content "big.db differs"

# A damaged base: a file of t04's installed 1.0 edited, then one deleted: detected, the full bundle goes.
damaged() {
	expect_exit 0 fl push "$1" -l t04 --json || return 1
	if [ "$(hj t04 .delta)" != false ] || [ -z "$(hj t04 '.delta_fallback // empty')" ]; then
		T_WHY="delta '$(hj t04 .delta)', fallback '$(hj t04 .delta_fallback)'"
		return 1
	fi
	echo "# fallback: $(hj t04 .delta_fallback)"
	cmp -s "$FLEET/t04/root/app/current/data/big.db" "$2" || { T_WHY="content wrong"; return 1; }
}
id1=$(readlink "$FLEET/t04/root/app/current" | sed 's|releases/||')
echo garbage >>"$FLEET/t04/root/app/releases/$id1/lib1/part3.bin"
cp "$R/data/big.db" "$T/big4.db"
t_check delta_damaged_base_falls_back damaged "$T/r4.tar.gz" "$T/big4.db"
id=$(readlink "$FLEET/t04/root/app/current" | sed 's|releases/||')
rm "$FLEET/t04/root/app/releases/$id/lib2/part5.bin"
printf 'colour = red\n' >"$R/conf/settings"
run fl bundle "$R" --version 5.0 -o "$T/r5.tar.gz"
t_check delta_deleted_base_file_falls_back expect_output 'note: full bundle sent: delta failed on the terminal' \
    fl push "$T/r5.tar.gz" -l t04
cmp -s "$FLEET/t04/root/app/current/conf/settings" "$R/conf/settings" && pass delta_fallback_content ||
	fail delta_fallback_content "settings: $(cat "$FLEET/t04/root/app/current/conf/settings")"
# The release a delta needs is gone from the terminal: the probe sees it, the full bundle goes.
for d in "$FLEET"/t04/root/app/releases/*; do
	[ "$d" = "$FLEET/t04/root/app/$(readlink "$FLEET/t04/root/app/current")" ] || rm -rf "$d"
done
rm -rf "$FLEET/t04/root/app/releases/$(readlink "$FLEET/t04/root/app/current" | sed 's|releases/||')"
t_check delta_missing_base_full expect_exit 0 fl push "$T/r3.tar.gz" -l t04 --json
hj t04 .delta_fallback | grep -q 'not installed on the terminal' && pass delta_missing_base_said ||
	fail delta_missing_base_said "fallback '$(hj t04 .delta_fallback)'"

# No installed release (the terminal was wiped since the history saw it): the full bundle, as before.
rm -rf "$FLEET/t05/root/app"
t_check delta_fresh_terminal_full expect_exit 0 fl push "$T/r3.tar.gz" -l t05 --json
[ "$(hj t05 .delta)" = false ] && [ "$(hj t05 .bytes_sent)" -eq "$(stat -c %s "$T/r3.tar.gz")" ] && pass delta_fresh_terminal_sends_bundle ||
	fail delta_fresh_terminal_sends_bundle "delta '$(hj t05 .delta)', sent '$(hj t05 .bytes_sent)'"

cut_try() {
	head -c 12000000 /dev/urandom >"$R/data/new.bin"
	run fl bundle "$R" --version "6.$1" --compress none -o "$T/r6.tar"
	t_push_cut t05 "$T/r6.tar"
}
tries=0
while [ "$tries" -lt 3 ]; do
	tries=$((tries + 1))
	cut_try "$tries"
	# the upload may have ended before the kill landed (what is left is whole): then again with new content
	left=$(cat "$FLEET/t05/root/app/.fleet/incoming"/* 2>/dev/null | wc -c)
	[ "$CUTAT" -gt 0 ] && [ "$CUTRC" -ne 0 ] && [ "$left" -gt 0 ] && [ "$left" -lt 12000000 ] && break
done
echo "# delta cut at $CUTAT bytes after $tries tries, push exit $CUTRC; left: $(cd "$FLEET/t05/root/app/.fleet/incoming" && wc -c ./* | tr '\n' ' ')"
jq -c 'select(.host == "t05") | {state, step, error, delta, bytes_sent}' "$T/cut.json" | sed 's/^/# /'
t_check delta_resume_ok expect_exit 0 fl push "$T/r6.tar" -l t05 --json
from=$(hj t05 .resumed_from)
[ "$(hj t05 .delta)" = true ] && [ "${from:-0}" -gt 0 ] && pass delta_resume_resumes ||
	fail delta_resume_resumes "delta '$(hj t05 .delta)', resumed_from '$from'"
cmp -s "$FLEET/t05/root/app/current/data/new.bin" "$R/data/new.bin" && pass delta_resume_content || fail delta_resume_content "new.bin differs"

# --hardlink: the reused files are hard links to the old release's (same inode), the tree as a full push's.
printf 'colour = violet\n' >"$R/conf/settings"
run fl bundle "$R" --version 7.0 -o "$T/r7.tar.gz"
old3=$(readlink "$FLEET/t01/root/app/current")
t_check delta_hardlink_ok expect_exit 0 fl push "$T/r7.tar.gz" -l t01 --hardlink --json
[ "$(hj t01 .delta)" = true ] && pass delta_hardlink_is_delta || fail delta_hardlink_is_delta "delta '$(hj t01 .delta)'"
t_check delta_hardlink_full_ok expect_exit 0 fl push "$T/r7.tar.gz" -l t03 --no-delta --json
t_check delta_hardlink_tree_same_as_full same_tree t01 t03
i_new=$(stat -c %i "$FLEET/t01/root/app/current/lib1/part1.bin")
i_old=$(stat -c %i "$FLEET/t01/root/app/$old3/lib1/part1.bin")
[ "$i_new" = "$i_old" ] && pass delta_hardlink_shares_inode || fail delta_hardlink_shares_inode "inodes $i_new, $i_old"
i_new=$(stat -c %i "$FLEET/t01/root/app/current/conf/settings")
i_old=$(stat -c %i "$FLEET/t01/root/app/$old3/conf/settings")
[ "$i_new" != "$i_old" ] && pass delta_hardlink_changed_file_own || fail delta_hardlink_changed_file_own "same inode"

# A terminal whose tools are all busybox (sh, tar, gzip, sha256sum, cp, dd, mkfifo, tee).
if command -v busybox >/dev/null 2>&1; then
	mkdir -p "$T/bb"
	for a in $(busybox --list); do ln -sf "$(command -v busybox)" "$T/bb/$a"; done
	echo "SetEnv PATH=$T/bb" >>"$FLEET/t06/sshd_config"
	fleet_stop_one "$FLEET" t06
	fleet_start_one "$FLEET" t06
	t_check delta_busybox_first expect_exit 0 fl push "$T/r3.tar.gz" -l t06 --json
	t_check delta_busybox_delta expect_exit 0 fl push "$T/r5.tar.gz" -l t06 --json
	[ "$(hj t06 .delta)" = true ] && [ "$(hj t06 .bytes_sent)" -lt 1048576 ] && pass delta_busybox_is_delta ||
		fail delta_busybox_is_delta "delta '$(hj t06 .delta)', sent '$(hj t06 .bytes_sent)', $(hj t06 .error)"
	run fl push "$T/r5.tar.gz" -l t04 --no-delta
	t_check delta_busybox_tree same_tree t06 t04
else
	echo "# busybox is not installed: busybox terminal not tested"
fi

t_done
