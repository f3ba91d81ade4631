#!/bin/sh
# e2e: one history shared by two controllers (two state dirs) through a bare git remote: 20 runs
# started in concurrent pairs all arrive (counted on the remote, git fsck clean), both controllers
# show the same status, the remote away for 5 runs loses nothing (history --unpushed, then pushed on
# the next operation), a rollback from B of A's push (switch only, and with the bundle from
# bundle_remote), and ssh:// refused with the reason.
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 4
SHARED=$T/shared.git
git init -q --bare "$SHARED"

# Two controllers: the same terminals, their own state dirs, one shared history and bundle store.
for c in A B; do
	sed "s|^state_dir = .*|state_dir = $T/state$c\nhistory_remote = $SHARED\nbundle_remote = $T/bundles|" "$INV" >"$T/$c.ini"
done
fa() { "$FLEETCTL" -i "$T/A.ini" "$@"; }
fb() { "$FLEETCTL" -i "$T/B.ini" "$@"; }
remote_count() { git -C "$SHARED" rev-list --count main 2>/dev/null || echo 0; }

# 20 runs, in concurrent pairs (A and B at once), each one commit.
i=0
while [ "$i" -lt 10 ]; do
	fa exec -l t01 -- "echo a$i" >"$T/a.out" 2>&1 </dev/null &
	pa=$!
	fb exec -l t02 -- "echo b$i" >"$T/b.out" 2>&1 </dev/null &
	pb=$!
	wait "$pa"
	wait "$pb"
	i=$((i + 1))
done
n=$(remote_count)
[ "$n" = 20 ] && pass shared_every_commit_arrives || fail shared_every_commit_arrives "remote has $n commits, want 20: $(cat "$T/a.out" "$T/b.out" | tail -n 4)"
git -C "$SHARED" fsck --strict >"$T/fsck.out" 2>&1 && pass shared_fsck_clean || fail shared_fsck_clean "$(head -n 5 "$T/fsck.out")"
got=$(git -C "$SHARED" log --format=%s main | grep -c "^exec 'echo [ab][0-9]'")
[ "$got" = 20 ] && pass shared_each_run_once || fail shared_each_run_once "$got exec commits named"

# Both see the same truth after a push from A.
t_rel 1
t_check shared_push_from_a expect_exit 0 fa push "$T/rel" --version 1.0 --json
t_rel 2
t_check shared_push2_from_a expect_exit 0 fa push "$T/rel" --version 2.0 --json
id2=$(hj t01 .release)
t_check shared_status_a expect_exit 0 fa status --json
sa=$(printf '%s\n' "$T_STDOUT" | jq -c 'select(.host != null) | [.host, .expected, .state]' | sort)
t_check shared_status_b expect_exit 0 fb status --json
sb=$(printf '%s\n' "$T_STDOUT" | jq -c 'select(.host != null) | [.host, .expected, .state]' | sort)
[ "$sa" = "$sb" ] && printf '%s' "$sb" | grep -q "\"$id2\",\"in sync\"" && pass shared_status_same_truth ||
	fail shared_status_same_truth "A: $sa B: $sb"

# The remote away for 5 runs: they run and commit locally, say so, and arrive when it is back.
before=$(remote_count)
mv "$SHARED" "$SHARED.away"
i=0
ok=0
while [ "$i" -lt 5 ]; do
	run fa exec -l t03 -- "echo offline$i"
	[ "$T_RC" = 0 ] && printf '%s\n' "$T_STDERR" | grep -q 'not in the shared history yet' && ok=$((ok + 1))
	i=$((i + 1))
done
[ "$ok" = 5 ] && pass shared_offline_runs_go_on_and_say_so || fail shared_offline_runs_go_on_and_say_so "$ok of 5; last: $T_STDERR"
run fa history --unpushed
n=$(printf '%s\n' "$T_STDOUT" | grep -c "echo offline")
[ "$n" = 5 ] && pass shared_unpushed_listed || fail shared_unpushed_listed "$n listed: $T_OUT"
mv "$SHARED.away" "$SHARED"
t_check shared_back_status expect_exit 0 fa status
n=$(remote_count)
[ "$n" = $((before + 5)) ] && pass shared_offline_commits_arrive || fail shared_offline_commits_arrive "remote $before -> $n"
run fa history --unpushed
[ -z "$T_STDOUT" ] && pass shared_nothing_left_unpushed || fail shared_nothing_left_unpushed "$T_STDOUT"
git -C "$SHARED" fsck --strict >/dev/null 2>&1 && pass shared_fsck_after_offline || fail shared_fsck_after_offline "fsck"

# A and B push to the same terminal at once (one is locked out, or they go one after the other): both
# runs are in the shared log, and t04's recorded state is what t04 really runs.
i=0
bad=""
while [ "$i" -lt 3 ]; do
	before=$(remote_count)
	t_rel "x$i"
	cp -r "$T/rel" "$T/relA"
	t_rel "y$i"
	fa push "$T/relA" --version "3.$i.a" -l t04 >/dev/null 2>&1 </dev/null &
	pa=$!
	fb push "$T/rel" --version "3.$i.b" -l t04 >/dev/null 2>&1 </dev/null &
	pb=$!
	wait "$pa"
	wait "$pb"
	rm -rf "$T/relA"
	fa status -l t04 >/dev/null 2>&1 </dev/null   # pulls (and pushes anything left)
	fb status -l t04 >/dev/null 2>&1 </dev/null
	want=$(link t04 | sed 's|^releases/||')
	got=$(git -C "$SHARED" show main:hosts/t04/app 2>/dev/null | sed -n 's/^current: //p')
	[ "$(remote_count)" = $((before + 2)) ] || bad="$bad round $i: $before -> $(remote_count) commits;"
	[ "$got" = "$want" ] || bad="$bad round $i: recorded '$got', t04 runs '$want';"
	i=$((i + 1))
done
[ -z "$bad" ] && pass shared_same_terminal_both_recorded_truth_kept || fail shared_same_terminal_both_recorded_truth_kept "$bad"

# B rolls back A's push: a switch only (1.0 is installed on t01)...
t_check shared_rollback_from_b expect_exit 0 fb rollback -l t01 --json
case "$(link t01)" in releases/1.0-*) pass shared_rollback_switched ;; *) fail shared_rollback_switched "t01 -> $(link t01)" ;; esac
# ... and with the bundle from bundle_remote (2.0 no longer on t02; B never had its bundle).
rm -rf "$FLEET/t02/root/app/releases/1.0-"* "$FLEET/t02/root/app/.fleet/installed/1.0-"*
f1=$(git -C "$SHARED" ls-tree -r --name-only main releases/app/ | grep '/1\.0-.*\.sha256$')
sha1=$(git -C "$SHARED" show "main:$f1")
[ -n "$sha1" ] && ! ls "$T/stateB/bundles/$sha1".* >/dev/null 2>&1 && ls "$T/bundles/$sha1".* >/dev/null 2>&1 &&
	pass shared_b_has_no_bundle || fail shared_b_has_no_bundle "sha '$sha1': $(ls "$T/stateB/bundles" "$T/bundles")"
t_check shared_rollback_reupload_from_b expect_exit 0 fb rollback -l t02 --json
[ "$(hj t02 .uploaded)" = true ] && pass shared_rollback_uploaded_from_bundle_remote ||
	fail shared_rollback_uploaded_from_bundle_remote "$T_OUT"
case "$(link t02)" in releases/1.0-*) pass shared_rollback_reupload_switched ;; *) fail shared_rollback_reupload_switched "t02 -> $(link t02)" ;; esac
t_check shared_history_a_sees_b expect_output 'rollback' fa history -n 2

# push --shard K/N from three CI jobs (two controllers): the parts do not overlap, cover every terminal,
# and `runs` on either controller shows them as one rollout.
t_rel shard
run fa bundle "$T/rel" --version 5.0 -o "$T/r5.tar.gz"
: >"$T/shard.hosts"
for k in 1 2 3; do
	if [ "$k" = 2 ]; then c=fb; else c=fa; fi
	run $c push "$T/r5.tar.gz" --shard "$k/3" --json
	[ "$T_RC" = 0 ] || echo "shard $k exit $T_RC: $T_STDERR" >>"$T/shard.err"
	printf '%s\n' "$T_STDOUT" | jq -r 'select(.host != null) | .host' >>"$T/shard.hosts"
done
[ "$(sort "$T/shard.hosts" | tr '\n' ' ')" = "t01 t02 t03 t04 " ] && [ ! -s "$T/shard.err" ] && pass shard_parts_cover_once ||
	fail shard_parts_cover_once "hosts: $(sort "$T/shard.hosts" | tr '\n' ' ') $(cat "$T/shard.err" 2>/dev/null)"
t_check shard_runs_show_one_rollout expect_output 'rollout 5\.0-[0-9a-f]+ to all in 3 shards: shards [123](,[123])* ran; 4 done' fb runs
t_check shard_bad_spec_refused expect_exit 2 fa push "$T/r5.tar.gz" --shard 4/3

# ssh:// is refused with the reason.
sed "s|^history_remote = .*|history_remote = ssh://git@127.0.0.1/fleet.git|" "$T/A.ini" >"$T/ssh.ini"
t_check shared_ssh_refused expect_output 'ssh is not used.*host key' "$FLEETCTL" -i "$T/ssh.ini" status

t_done
