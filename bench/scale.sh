#!/bin/sh
# scale.sh: issue 15, "10,000 terminals from one controller".  Writes bench/results/scale.md (see bench/README.md).
#
#   sh bench/scale.sh                 every part: real hist sim output
#   sh bench/scale.sh real            (a) exec `true` on REAL_N real sshd terminals: fleetctl, floor, parallel-ssh
#   sh bench/scale.sh sim             (b) exec `true` and a PUSH_MB push to SIM_N simulated terminals (bench/lab.sh)
#   sh bench/scale.sh hist            (c) a push's journal and history commit at HIST_NS terminals (bench/histscale.c)
#   sh bench/scale.sh output          3.  progress line, --fold and summary at SIM_N terminals, one daemon down
#
# Environment: FLEETCTL (./fleetctl), TAG (a word for this run in the report, e.g. "before"), REAL_N (1000),
# ROUNDS (5), SIM_N (10000), SIM_P (parallelism for the simulated runs, default SIM_N), SIM_RUNS ("exec push":
# the exec is recorded in the history, so the push after it reads a 10,000-terminal commit), PUSH_MB (1),
# HIST_NS ("1000 2000 5000 10000"), HIST_TMP (/var/tmp: the state directory on disk, as an operator's is),
# BENCH_TMP (/dev/shm), LAB_ROOTS (where the simulated terminals' roots go; default: BENCH_TMP when the
# machine has the memory for SIM_N x PUSH_MB x 3 besides MEM_FLOOR_MB, else /var/tmp), MEM_FLOOR_MB (3072:
# a simulated run is stopped when the machine's MemAvailable falls below it), SIM_TIMEOUT (3600 s per run),
# PROFILE (1: perf profile of the controller on PROFILE_N (1000) terminals of the simulated lab),
# OUT (bench/results/scale.md; raw figures beside it in scale.times).
# The parts run one after another; each report section is replaced in OUT only when that part ran, so
# `sh bench/scale.sh sim` updates (b) and keeps the rest.
#
# Needs root (network namespaces), parallel-ssh, openssh-server/client, gcc, libssh2-1-dev, jq, time, perf (PROFILE=1).
set -u
. "$(dirname "$0")/lib.sh"
FLEET_SH_LIB=1 . "$BENCH_ROOT/tests/fleet.sh"

PARTS=${*:-real hist sim output}
TAG=${TAG:-}
REAL_N=${REAL_N:-1000}
ROUNDS=${ROUNDS:-3}
SIM_N=${SIM_N:-10000}
SIM_P=${SIM_P:-$SIM_N}
PUSH_MB=${PUSH_MB:-1}
HIST_NS=${HIST_NS:-1000 2000 5000 10000}
HIST_TMP=${HIST_TMP:-/var/tmp}
MEM_FLOOR_MB=${MEM_FLOOR_MB:-3072}
SIM_TIMEOUT=${SIM_TIMEOUT:-3600}
PROFILE=${PROFILE:-1}
PROFILE_N=${PROFILE_N:-1000}
SIM_RUNS=${SIM_RUNS:-exec push}
OUT=${OUT:-$BENCH_ROOT/bench/results/scale.md}
LAB=$BENCH_ROOT/bench/lab.sh
NCPU=$(nproc)
CLK_TCK=$(getconf CLK_TCK)

for p in $PARTS; do
	case "$p" in real | sim | hist | output) ;; *) bench_err "unknown part '$p' (real sim hist output)"; exit 2 ;; esac
done
[ "$(id -u)" -eq 0 ] || { bench_err "needs root (network namespaces, sshd)"; exit 1; }
[ -x "$FLEETCTL" ] || { bench_err "no fleetctl at $FLEETCTL (make, or set FLEETCTL)"; exit 1; }
bench_need parallel-ssh ssh ip gcc pkg-config jq awk /usr/bin/time || exit 1
if [ "$PROFILE" = 1 ] && ! command -v perf >/dev/null 2>&1; then
	bench_err "no perf (apt-get install linux-perf), profiling off"
	PROFILE=0
fi

B=$(mktemp -d "${BENCH_TMP:-/dev/shm}/fleet-scale.XXXXXX") || exit 1
chmod 0755 "$B"
HIST_DIR=""
ROOTS_DIR=""
scale_cleanup() {
	[ -n "${MON_PID:-}" ] && kill "$MON_PID" 2>/dev/null
	sh "$LAB" real-down "$B/real" >/dev/null 2>&1
	sh "$LAB" down "$B/lab" >/dev/null 2>&1
	[ -n "$ROOTS_DIR" ] && rm -rf "$ROOTS_DIR"
	[ -n "$HIST_DIR" ] && rm -rf "$HIST_DIR"
	rm -rf "$B"
}
trap scale_cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
unset SSH_AUTH_SOCK
: >"$B/times"
: >"$B/raw"

# --- machine load ------------------------------------------------------------------------------------

cpu_busy_ticks() {
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# What the machine did before a part started: busy % of all cores over 5 s, and the load average.
machine_load() {
	local a b
	a=$(cpu_busy_ticks)
	sleep 5
	b=$(cpu_busy_ticks)
	echo "$a $b" | awk -v hz="$CLK_TCK" -v n="$NCPU" -v la="$(cut -d' ' -f1-3 /proc/loadavg)" \
	    '{ printf "machine busy %.0f%% of %d cores over the 5 s before, load average %s", ($2 - $1) / hz / 5 / n * 100, n, la }'
}

mem_avail_mb() {
	awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo
}

raw() {
	echo "$*" >>"$B/raw"
}

# --- report sections ---------------------------------------------------------------------------------

# section NAME FILE: the report's section NAME (between its markers) becomes FILE's text.
section() {
	local name="$1" file="$2" tmp
	mkdir -p "$(dirname "$OUT")"
	[ -f "$OUT" ] || printf '# Scale: 10,000 terminals from one controller (bench/scale.sh)\n\n' >"$OUT"
	tmp=$OUT.tmp.$$
	awk -v name="$name" -v file="$file" '
		function put() { print "<!-- " name " -->"; while ((getline l < file) > 0) print l; print "<!-- /" name " -->"; done = 1 }
		$0 == "<!-- " name " -->" { skip = 1; put(); next }
		$0 == "<!-- /" name " -->" { skip = 0; next }
		!skip { print }
		END { if (!done) { print ""; put() } }' "$OUT" >"$tmp" && mv "$tmp" "$OUT"
	# the raw figures of this part, tagged
	[ -s "$B/raw" ] && sed "s/^/$name ${TAG:-untagged} /" "$B/raw" >>"${OUT%.md}.times"
	: >"$B/raw"
}

stamp() {
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $NCPU cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)," \
	    "$(ssh -V 2>&1 | cut -d, -f1), libssh2 $(pkg-config --modversion libssh2), fleetctl $(cd "$BENCH_ROOT" && git rev-parse --short HEAD 2>/dev/null)$(cd "$BENCH_ROOT" && git diff --quiet HEAD -- lib cmd fleetctl.c 2>/dev/null || echo '+changes')${TAG:+ ($TAG)}"
}

verdict() {
	awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
		if (v == "-" || v == "") { print "n/a"; exit }
		ok = (op == ">=") ? v >= l : v <= l
		print ok ? "met" : "MISSED" }'
}

# --- (a) real terminals --------------------------------------------------------------------------------

# time -f: first line "user sys", last line peak RSS (what bench_case reads)
TIMEFMT='%U %S\n%M'

real_run_floor() {
	"$FLOOR" -k "$FLEET/client/known_hosts" "$USER_LOGIN" "$FLEET/client/id_ed25519" true $(cat "$B/hostports")
}
real_run_fleetctl() {
	/usr/bin/time -f "$TIMEFMT" -o "$B/rss" "$FLEETCTL" -i "$FLEET/fleet.ini" exec -p "$REAL_N" --no-record -- true
}
real_run_pssh() {
	parallel-ssh -p "$REAL_N" -t 0 -h "$B/hosts" -x "-F $B/ssh_config" -i true
}
real_check_floor() { [ "$2" -eq 0 ] && grep -q "^ok $3 failed 0 lines" "$1"; }
real_check_fleetctl() { [ "$2" -eq 0 ] && grep -q "^fleetctl: $3 ok\$" "$1"; }
real_check_pssh() { [ "$2" -eq 0 ] && [ "$(bench_count_lines "$1" '[SUCCESS]')" -eq "$3" ]; }

real_case() {
	local c0 c1
	c0=$(cpu_busy_ticks)
	bench_case "$1" "real_check_$1" "real_run_$1"
	c1=$(cpu_busy_ticks)
	raw "cpu $1 $(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / hz }') $(head -n 1 "$B/rss" 2>/dev/null | awk '{ printf "%.2f", $1 + $2 }')"
}

part_real() {
	local load t0 up_s order round c f fl ps rss ctl f_cpu
	load=$(machine_load)
	N=$REAL_N
	FLEET=$B/real
	t0=$(date +%s)
	sh "$LAB" real-up "$FLEET" "$REAL_N" || { bench_err "the $REAL_N real terminals did not come up"; return 1; }
	up_s=$(( $(date +%s) - t0 ))
	USER_LOGIN=$(sed -n 's/^user = //p' "$FLEET/fleet.ini")
	bench_peer_files
	bench_floor_build || return 1
	: >"$B/times"
	for c in floor fleetctl pssh; do
		bench_case "warmup-$c" "real_check_$c" "real_run_$c" >/dev/null 2>&1 || true
	done
	: >"$B/times"
	round=1
	while [ "$round" -le "$ROUNDS" ]; do
		order=$(echo floor fleetctl pssh | awk -v r="$round" '{ for (i = 0; i < NF; i++) printf "%s ", $((i + r - 1) % NF + 1) }')
		for c in $order; do
			real_case "$c" || true
		done
		echo "scale: real: round $round of $ROUNDS done" >&2
		round=$((round + 1))
	done
	cat "$B/times" | sed 's/^/run /' >>"$B/raw"
	t0=$(date +%s)
	sh "$LAB" real-down "$FLEET"
	raw "fleet up_s $up_s down_s $(( $(date +%s) - t0 ))"
	f=$(bench_median fleetctl)
	fl=$(bench_ratio "$f" "$(bench_median floor)")
	ps=$(bench_ratio "$(bench_median pssh)" "$f")
	rss=$(bench_max_rss_mib fleetctl)
	ctl=$(awk '$1 == "cpu" && $2 == "fleetctl" { print $4 }' "$B/raw" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
	f_cpu=$(awk -v c="$ctl" -v n="$REAL_N" 'BEGIN { if (c != "") printf "%.2f", c / n * 1000 }')
	{
		echo "## (a) exec \`true\` on $REAL_N real sshd terminals"
		echo
		echo "$(stamp); $load. $ROUNDS rounds after one warm-up, the three alternating (each round starts one later);" \
		    "median wall seconds of the successful runs; ratio = case / fleetctl. $REAL_N OpenSSH sshd daemons on 127.0.0.1" \
		    "(tests/fleet.sh via \`bench/lab.sh real-up\`: own port, host key and root each; up in $up_s s), parallelism $REAL_N" \
		    "everywhere, no ssh-agent. CPU s = the whole machine's busy CPU during the run, median."
		echo
		echo "| tool | median s | ratio to fleetctl | runs ok | machine CPU s |"
		echo "|---|---|---|---|---|"
		for c in floor fleetctl pssh; do
			case "$c" in
			floor) l="floor (bare libssh2, bench/floor.c, one thread per terminal)" ;;
			fleetctl) l="**fleetctl exec --no-record**" ;;
			pssh) l="parallel-ssh -p $REAL_N" ;;
			esac
			echo "$(bench_row "$l" "$c" fleetctl) $(awk -v c="$c" '$1 == "cpu" && $2 == c { print $3 }' "$B/raw" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }') |"
		done
		echo
		echo "- fleetctl / floor: $fl (target <= 1.10): $(verdict "$fl" '<=' 1.10)"
		echo "- parallel-ssh / fleetctl: $ps (target >= 4): $(verdict "$ps" '>=' 4)"
		echo "- fleetctl: controller CPU (user+sys) ${ctl:-?} s median = $f_cpu ms per terminal; peak RSS $rss MiB"
	} >"$B/section"
	section real "$B/section"
}

# --- (b) simulated terminals ---------------------------------------------------------------------------

# sim_run NAME CMD...: run CMD (a fleetctl command line) inside the lab under /usr/bin/time -v, watched:
# stopped when the machine runs short of memory or after SIM_TIMEOUT.  Sets RUN_* (wall, user, sys, rss_kb,
# busy CPU s, peak processes in the lab, lowest MemAvailable, rc); output in $B/NAME.out.
sim_run() {
	local name="$1" t0 t1 c0 c1 pid child mem minmem=999999 maxp=0 p ticks=0 stopped=""
	shift
	c0=$(cpu_busy_ticks)
	t0=$(bench_now)
	ip netns exec "$NS" /usr/bin/time -v -o "$B/$name.tv" "$@" >"$B/$name.out" 2>"$B/$name.err" </dev/null &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		mem=$(mem_avail_mb)
		[ "$mem" -lt "$minmem" ] && minmem=$mem
		p=$(ip netns pids "$NS" 2>/dev/null | wc -l)
		[ "$p" -gt "$maxp" ] && maxp=$p
		if [ "$mem" -lt "$MEM_FLOOR_MB" ] || [ "$ticks" -ge "$SIM_TIMEOUT" ]; then
			stopped="stopped: MemAvailable $mem MiB (floor $MEM_FLOOR_MB), $ticks s"
			child=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null)
			[ -n "$child" ] && kill -TERM $child 2>/dev/null
			sleep 5
			[ -n "$child" ] && kill -KILL $child 2>/dev/null
			break
		fi
		sleep 1
		ticks=$((ticks + 1))
	done
	wait "$pid"
	RUN_RC=$?
	t1=$(bench_now)
	c1=$(cpu_busy_ticks)
	RUN_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	RUN_USER=$(sed -n 's/^\tUser time (seconds): //p' "$B/$name.tv")
	RUN_SYS=$(sed -n 's/^\tSystem time (seconds): //p' "$B/$name.tv")
	RUN_RSS=$(sed -n 's/^\tMaximum resident set size (kbytes): //p' "$B/$name.tv")
	RUN_BUSY=$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", (b - a) / hz }')
	RUN_MAXP=$maxp
	RUN_MINMEM=$minmem
	RUN_STOPPED=$stopped
	RUN_START=$t0
	raw "$name rc $RUN_RC wall $RUN_WALL user ${RUN_USER:-?} sys ${RUN_SYS:-?} rss_kb ${RUN_RSS:-?} busy $RUN_BUSY maxprocs $maxp minmem_mb $minmem ${stopped:+$stopped}"
}

# One table row from the RUN_* of the last sim_run: case | wall | ok | ctl CPU | per terminal | RSS | busy | share | of capacity
sim_row() {
	awk -v l="$1" -v ok="$2" -v w="$RUN_WALL" -v u="${RUN_USER:-0}" -v s="${RUN_SYS:-0}" -v r="${RUN_RSS:-0}" \
	    -v b="$RUN_BUSY" -v n="$3" -v nc="$NCPU" -v p="$RUN_MAXP" 'BEGIN {
		c = u + s
		printf "| %s | %s | %s | %.1f (%.1f + %.1f) | %.2f | %.0f | %.0f | **%.1f%%** | %.1f%% | %d |\n", l, w, ok, c, u, s,
		    c / n * 1000, r / 1024, b, (b > 0 ? c / b * 100 : 0), (w > 0 ? c / (w * nc) * 100 : 0), p
	}'
}

# Phases of a push from its journal: start->plan, plan->first terminal's first state, the terminals, last->end.
push_phases() {
	local j="$1"
	jq -rs --arg t0 "$RUN_START" --arg t1 "$(awk -v a="$RUN_START" -v w="$RUN_WALL" 'BEGIN { printf "%.3f", a + w }')" '
		def ts: sub("Z$"; "") | capture("(?<s>[^.]*)\\.(?<ms>[0-9]+)") | ((.s + "Z" | fromdate) + (.ms | tonumber) / 1000);
		def r1: . * 10 | round / 10;
		(.[0].time | ts) as $plan
		| ([.[] | select(.t == "state") | .time | ts] | min) as $s0
		| ([.[] | select(.t == "state") | .time | ts] | max) as $s1
		| ([.[] | select(.t == "end") | .time | ts] | max) as $fin
		| "\($plan - ($t0 | tonumber) | r1) \($s0 - $plan | r1) \($s1 - $s0 | r1) \($fin - $s1 | r1) \(($t1 | tonumber) - $fin | r1)"' "$j"
}

sim_lab_up() {
	local need have
	[ -n "${NS:-}" ] && return 0
	if [ -z "${LAB_ROOTS:-}" ]; then
		need=$((SIM_N * PUSH_MB * 3 + MEM_FLOOR_MB + 2048))
		have=$(mem_avail_mb)
		if [ "$have" -gt "$need" ]; then
			ROOTS_DIR=$B/roots
			mkdir -p "$ROOTS_DIR"
		else
			ROOTS_DIR=$(mktemp -d /var/tmp/fleet-scale-roots.XXXXXX) || return 1
		fi
	else
		ROOTS_DIR=$(mktemp -d "$LAB_ROOTS/fleet-scale-roots.XXXXXX") || return 1
	fi
	chmod 0755 "$ROOTS_DIR"
	LAB_ROOTS=$ROOTS_DIR sh "$LAB" up "$B/lab" "$SIM_N" 2>"$B/lab-up.err" || { cat "$B/lab-up.err" >&2; return 1; }
	LAB_UP_LINE=$(sed 's/^lab: //' "$B/lab-up.err")
	NS=$(cat "$B/lab/netns")
	sh "$LAB" check "$B/lab" >&2 || return 1
	LAB_ROOTS_FS=$(df -T "$ROOTS_DIR" | awk 'NR == 2 { print $2 }')
}

# The profile: perf on PROFILE_N terminals of the lab (the same known_hosts as all SIM_N), the controller's
# share of its own CPU in the functions that matter.
sim_profile() {
	# the first PROFILE_N terminals, in an inventory of their own that names the same known_hosts
	awk -v k="$PROFILE_N" '/^\[host:/ { n++ } n <= k { print }' "$B/lab/fleet.ini" >"$B/profile.ini"
	ip netns exec "$NS" perf record -q -F 499 --call-graph dwarf,16384 -o "$B/perf.data" \
	    "$FLEETCTL" -i "$B/profile.ini" exec -p "$PROFILE_N" --no-record -- true >"$B/perf.out" 2>&1 || return 1
	perf report -i "$B/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
	    awk '/%/ { sub(/^ +/, ""); print }' >"$B/perf.txt"
	cp "$B/perf.txt" "${OUT%.md}.perf.txt" 2>/dev/null
	for s in tp_connect_one knownhosts_lookup libssh2_userauth_publickey_fromfile_ex PEM_read_bio_PrivateKey_ex \
	    tp_key_inspect libssh2_session_handshake tp_check_hostkey libssh2_knownhost_checkp transport_exec \
	    transport_close cmd_load_inventory report_hosts; do
		awk -v s="$s" '$NF == "-" { } { for (i = 1; i <= NF; i++) if ($i == s || $i == "[.] " s) { print s, $1; exit } }' "$B/perf.txt" |
		    head -n 1
	done | awk '{ printf "| `%s` | %s |\n", $1, $2 }'
}

part_sim() {
	local load rel bundle id ok checked bad i line root payload_ok prof
	load=$(machine_load)
	sim_lab_up || { bench_err "the lab did not come up"; return 1; }
	N=$SIM_N

	: >"$B/sim-rows"
	exec_line="not run"
	push_line="not run"
	phases=""
	# exec, recorded in the history as an operator's is: the push after it finds a 10,000-line commit at the tip
	case " $SIM_RUNS " in *" exec "*)
	sim_run sim-exec "$FLEETCTL" -i "$B/lab/fleet.ini" exec -p "$SIM_P" -- true
	ok=$(grep -c "^fleetctl: $SIM_N ok\$" "$B/sim-exec.err")
	sim_row "exec \`true\` (recorded)" "$( [ "$RUN_RC" -eq 0 ] && [ "$ok" -eq 1 ] && echo "$SIM_N/$SIM_N" || echo "FAILED (exit $RUN_RC: $(tail -n 1 "$B/sim-exec.err" | cut -c1-120)) $RUN_STOPPED")" "$SIM_N" >>"$B/sim-rows"
	exec_line="lowest MemAvailable $RUN_MINMEM MiB"
	;; esac

	case " $SIM_RUNS " in *" push "*)
	# push: PUSH_MB of random bytes (incompressible) and a few small files
	rel=$B/release
	mkdir -p "$rel/bin" "$rel/share"
	head -c $((PUSH_MB * 1000000)) /dev/urandom >"$rel/share/payload.bin"
	printf '#!/bin/sh\necho kiosk-app\n' >"$rel/bin/kiosk-app"
	chmod 0755 "$rel/bin/kiosk-app"
	for i in 1 2 3 4 5 6 7 8; do echo "page $i" >"$rel/share/page$i.txt"; done
	bundle=$B/app.tar.gz
	"$FLEETCTL" bundle "$rel" --version 1.0 -o "$bundle" --json >"$B/bundle.json" || return 1
	id=$(jq -r .id "$B/bundle.json")
	sim_run sim-push "$FLEETCTL" -i "$B/lab/fleet.ini" push "$bundle" -p "$SIM_P" --json
	ok=$(grep '^{"summary"' "$B/sim-push.out" | jq -r '"\(.ok) \(.total) \(.bytes_sent)"')
	# every terminal's current is the release; 50 chosen at random hold its payload byte for byte
	bad=$(awk '{ print $4 }' "$B/lab/hosts.tsv" | while read -r root; do
		[ "$(readlink "$root/app/current")" = "releases/$id" ] || echo x
	done | wc -l)
	checked=0
	payload_ok=0
	for line in $(awk 'BEGIN { srand() } { print rand(), $4 }' "$B/lab/hosts.tsv" | sort | head -n 50 | awk '{ print $2 }'); do
		checked=$((checked + 1))
		cmp -s "$line/app/current/share/payload.bin" "$rel/share/payload.bin" && payload_ok=$((payload_ok + 1))
	done
	set -- $ok
	if [ "$RUN_RC" -eq 0 ] && [ "${1:-0}" = "$SIM_N" ] && [ "$bad" -eq 0 ] && [ "$payload_ok" -eq "$checked" ]; then
		push_ok="$SIM_N/$SIM_N"
	else
		push_ok="FAILED (exit $RUN_RC, ok ${1:-?}/${2:-?}, $bad not switched, payload $payload_ok/$checked) $RUN_STOPPED"
	fi
	sim_row "push $(awk -v b="$(wc -c <"$bundle")" 'BEGIN { printf "%.1f MB", b / 1e6 }')" "$push_ok" "$SIM_N" >>"$B/sim-rows"
	push_line="bytes_sent ${3:-?}; every terminal's \`current\` checked, $payload_ok/$checked payloads compared byte for byte; lowest MemAvailable $RUN_MINMEM MiB"
	phases=$(push_phases "$(ls -t "$B/lab/state/runs/"*.jsonl | head -n 1)" 2>/dev/null)
	raw "push-phases $phases"
	;; esac

	prof=""
	if [ "$PROFILE" = 1 ]; then
		prof=$(sim_profile) || prof=""
	fi
	{
		echo "## (b) $SIM_N simulated terminals: exec and a $PUSH_MB MB push"
		echo
		echo "$(stamp); $load. Lab: $LAB_UP_LINE; roots on $LAB_ROOTS_FS." \
		    "One run each at parallelism $SIM_P, the exec first (recorded in the history, as by default), then the push. Controller CPU = user + sys of the fleetctl process (/usr/bin/time -v);" \
		    "machine CPU = all cores' busy time during the run (controller + the lab's sshd side + anything else running);" \
		    "share = controller / machine (target < 15%); of capacity = controller / (wall x $NCPU cores)."
		echo
		echo "| run | wall s | ok | controller CPU s (user + sys) | ms per terminal | peak RSS MiB | machine CPU s | share | of capacity | peak processes in the lab |"
		echo "|---|---|---|---|---|---|---|---|---|---|"
		cat "$B/sim-rows"
		echo
		echo "- exec: $exec_line"
		echo "- push: $push_line"
		if [ -n "$phases" ]; then
			set -- $phases
			echo "- push, from its journal: start to plan $1 s (inventory, bundle, each terminal's state from the history);" \
			    "plan to the first terminal's first state $2 s; the terminals $3 s; last terminal to the journal's end $4 s" \
			    "(history reads and the commit); end to exit $5 s"
		fi
		if [ -n "$prof" ]; then
			echo
			echo "Where the controller's own CPU goes (\`perf record --call-graph dwarf\`, exec \`true\` on $PROFILE_N" \
			    "of the lab's terminals with the same $SIM_N-line known_hosts; % of fleetctl's samples, inclusive;" \
			    "the whole report in scale.perf.txt):"
			echo
			echo "| function | % |"
			echo "|---|---|"
			echo "$prof"
		fi
	} >"$B/section"
	section sim "$B/section"
}

# --- (c) history and journal -------------------------------------------------------------------------

# hist_runs BASE: histscale 3 times in fresh directories under BASE; each phase's median per N into $B/hist.txt
hist_runs() {
	local r
	HIST_DIR=$(mktemp -d "$1/fleet-histscale.XXXXXX") || return 1
	: >"$B/hist.all"
	for r in 1 2 3; do
		mkdir -p "$HIST_DIR/r$r"
		"$B/histscale" "$HIST_DIR/r$r" $HIST_NS >>"$B/hist.all" || { bench_err "histscale failed"; return 1; }
		rm -rf "$HIST_DIR/r$r"
	done
	rm -rf "$HIST_DIR"
	HIST_DIR=""
	sed "s|^|hist $(df -T "$1" | awk 'NR == 2 { print $2 }') |" "$B/hist.all" >>"$B/raw"
	awk '{ n[$1] = 1; for (i = 2; i <= NF; i++) v[$1, i, ++c[$1, i]] = $i; nf = NF }
	    END {
		for (k in n) {
			line = k
			for (i = 2; i <= nf; i++) {
				m = c[k, i]
				for (a = 1; a <= m; a++) for (b = a + 1; b <= m; b++) if (v[k, i, b] < v[k, i, a]) { t = v[k, i, a]; v[k, i, a] = v[k, i, b]; v[k, i, b] = t }
				line = line " " v[k, i, int((m + 1) / 2)]
			}
			print line
		}
	    }' "$B/hist.all" | sort -n >"$B/hist.txt"
}

hist_table() {
	echo "| terminals | journal: plan + 3 states each, 8 writers | journal_text (run record) | journal_read (show, resume) | every terminal's state from the history | history commit | first commit | run record |"
	echo "|---|---|---|---|---|---|---|---|"
	awk '{ printf "| %d | %.3f (%.0f) | %.3f (%.1f) | %.3f (%.1f) | %.3f (%.1f) | %.3f (%.1f) | %.3f (%.1f) | %.1f MB |\n",
	    $1, $2, $2 / $1 * 1e6, $3, $3 / $1 * 1e6, $4, $4 / $1 * 1e6, $5, $5 / $1 * 1e6, $6, $6 / $1 * 1e6,
	    $7, $7 / $1 * 1e6, $8 / 1e6 }' "$B/hist.txt"
	echo
	awk 'BEGIN { split("journal text read states commit first", name, " ") }
	    NR == 1 { n1 = $1; for (i = 2; i <= 7; i++) a[i] = $i }
	    { n = $1; for (i = 2; i <= 7; i++) z[i] = $i }
	    END {
		if (n == n1) exit
		worst = 0; list = ""
		# phases under 20 ms at the smallest N are timer noise on a shared machine: left out
		for (i = 2; i <= 7; i++) if (a[i] >= 0.02) {
			r = (z[i] / n) / (a[i] / n1)
			list = list sprintf("%s%s %.1fx", list == "" ? "" : ", ", name[i - 1], r)
			if (r > worst) worst = r
		}
		if (list == "") { printf "- linearity: every phase under 20 ms at %d terminals\n", n1; exit }
		printf "- linearity, time per terminal at %d over %d terminals (1.0 = linear; phases over 20 ms at %d): %s; largest %.1fx\n", n, n1, n1, list, worst
	    }' "$B/hist.txt"
}

part_hist() {
	local load disk_fs mem_dir
	load=$(machine_load)
	${CC:-gcc} -std=c17 -D_GNU_SOURCE -O2 -pthread -o "$B/histscale" "$BENCH_ROOT/bench/histscale.c" "$BENCH_ROOT"/build/rel/lib/*.o \
	    $(pkg-config --cflags --libs libssh2 libgit2 libarchive inih jansson libcrypto zlib) ||
	    { bench_err "cannot build bench/histscale.c (make first: it links build/rel/lib/*.o)"; return 1; }
	disk_fs=$(df -T "$HIST_TMP" | awk 'NR == 2 { print $2 }')
	mem_dir=${BENCH_TMP:-/dev/shm}
	{
		echo "## (c) a push's journal and history commit at $(echo "$HIST_NS" | sed 's/ /, /g') terminals"
		echo
		echo "$(stamp); $load. bench/histscale.c linked with fleetctl's lib/ (one process, a fresh state directory" \
		    "per N): a first push is recorded, then one push replayed as cmd/deploy_run.c does it. Median of 3 runs," \
		    "seconds; per terminal in microseconds in brackets (constant = linear)."
		echo
		hist_runs "$HIST_TMP" || return 1
		echo "On $disk_fs under $HIST_TMP, fsync on as fleetctl has it (the journal's cost is its fdatasyncs: their latency on a shared disk, not CPU):"
		echo
		hist_table
		echo
		hist_runs "$mem_dir" || return 1
		echo "On $(df -T "$mem_dir" | awk 'NR == 2 { print $2 }') under $mem_dir (fsync costs nothing: the controller's CPU alone):"
		echo
		hist_table
	} >"$B/section"
	section hist "$B/section"
}

# --- 3. output at scale ------------------------------------------------------------------------------

part_output() {
	local load dn p down typescript cmd prog_n prog_max sum_len fold_lines fold_max
	load=$(machine_load)
	sim_lab_up || { bench_err "the lab did not come up"; return 1; }
	N=$SIM_N
	# One daemon down: its terminals (every LAB_DAEMONS-th) are unreachable, spread over the whole range.
	dn=d05
	p=$(cat "$B/lab/$dn/sshd.pid")
	fleet_kill "$(fleet_tree "$p" | tr '\n' ' ')"
	down=$(awk -v d="$dn" '$5 == d' "$B/lab/hosts.tsv" | wc -l)
	# the server's port as output: one group per port (terminals of one port share it)
	cmd='echo ${SSH_CONNECTION##* }'
	typescript=$B/output.typescript
	# under script(1): stdout and stderr are a terminal, so the progress line is drawn, as an operator sees it
	sim_run output script -qfec "$FLEETCTL -i $B/lab/fleet.ini exec -p $SIM_P --fold -- '$cmd'" "$typescript"
	tr '\r' '\n' <"$typescript" | grep -a '^\[[0-9]*/[0-9]*\]' >"$B/progress.txt"
	prog_n=$(wc -l <"$B/progress.txt")
	prog_max=$(awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }' "$B/progress.txt")
	# what stays on the screen: the progress line is redrawn in place and cleared before the results
	tr '\r' '\n' <"$typescript" | sed 's/\x1b\[K//g' | grep -av '^\[[0-9]*/[0-9]*\]' | grep -av '^$' |
	    grep -av '^Script \(started\|done\) on ' >"$B/output.txt"
	sum_len=$(grep -a '^fleetctl: ' "$B/output.txt" | tail -n 1 | awk '{ print length($0) }')
	fold_lines=$(grep -ac '^---- ' "$B/output.txt")
	fold_max=$(grep -a '^---- ' "$B/output.txt" | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')
	{
		echo "## 3. Output at $SIM_N terminals"
		echo
		echo "$(stamp); $load. \`fleetctl exec -p $SIM_P --fold -- 'echo \${SSH_CONNECTION##* }'\` (each terminal prints" \
		    "its port: one group per port) with daemon $dn stopped ($down terminals unreachable, every" \
		    "$(wc -l <"$B/lab/daemons")th), run under script(1) so that stderr is a terminal and the progress line is drawn."
		echo "Wall $RUN_WALL s, exit $RUN_RC, controller CPU $(awk -v u="${RUN_USER:-0}" -v s="${RUN_SYS:-0}" 'BEGIN { print u + s }') s, peak RSS $(awk -v r="${RUN_RSS:-0}" 'BEGIN { printf "%.0f", r / 1024 }') MiB."
		echo
		echo "- progress line: $prog_n updates, longest $prog_max characters; last: \`$(tail -n 1 "$B/progress.txt" | sed 's/\x1b\[K//')\`"
		echo "- --fold: $fold_lines groups (\`---- \` lines), longest $fold_max characters; $(wc -l <"$B/output.txt") lines in all"
		echo "- summary line: $sum_len characters"
		echo
		echo "First lines, the first unreachable group, and the summary as printed:"
		echo
		echo '```'
		head -n 4 "$B/output.txt" | cut -c1-300
		echo "..."
		grep -a -A1 '^---- .*unreachable' "$B/output.txt" | head -n 2 | cut -c1-300
		echo "..."
		grep -a '^fleetctl: ' "$B/output.txt" | tail -n 1 | cut -c1-600
		echo '```'
	} >"$B/section"
	cp "$B/output.txt" "${OUT%.md}.output.txt" 2>/dev/null
	section output "$B/section"
	# the daemon back, for any later part
	ip netns exec "$NS" "$FLEET_SSHD" -f "$B/lab/$dn/sshd_config" -E "$B/lab/$dn/sshd.log" 2>/dev/null || true
}

for p in $PARTS; do
	echo "scale: part $p ($(date '+%H:%M:%S'))" >&2
	"part_$p" || bench_err "part $p failed"
done
echo "scale: written $OUT" >&2
