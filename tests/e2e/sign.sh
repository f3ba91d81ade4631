#!/bin/sh
# e2e: signed releases.  bundle --sign writes BUNDLE.sig; with require_signature in [fleet], push
# refuses (exit 2, no terminal touched) an unsigned bundle, one signed by another key, a tampered
# signature, a signature of another release; accepts a good one, push --sign of a directory, and
# records the signer in the history; retry and resume check the signature kept in the store.
. "$(dirname "$0")/../lib.sh"

t_setup
fleet_up 2
HIST=$FLEET/state/history

openssl genpkey -algorithm ed25519 -out "$T/good.key" 2>/dev/null
openssl pkey -in "$T/good.key" -pubout -out "$FLEET/good.pub" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$T/other.key" 2>/dev/null
openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024 -out "$T/rsa.key" 2>/dev/null

mkdir -p "$T/rel"
echo one >"$T/rel/file"
t_check sign_bundle_writes_sig expect_exit 0 fl bundle "$T/rel" --version 1.0 --sign "$T/good.key" -o "$T/r1.tar.gz"
head -n 1 "$T/r1.tar.gz.sig" | grep -qx 'fleetctl-signature 1' && pass sign_sig_file_format ||
	fail sign_sig_file_format "$(cat "$T/r1.tar.gz.sig")"
t_check sign_bundle_refuses_rsa_key expect_output 'not an ed25519 key' fl bundle "$T/rel" --version 1.0 --sign "$T/rsa.key" -o "$T/x.tar.gz"
[ ! -e "$T/x.tar.gz" ] && pass sign_failed_sign_leaves_no_bundle || fail sign_failed_sign_leaves_no_bundle "x.tar.gz left"

# Without require_signature an unsigned bundle goes as before.
run fl bundle "$T/rel" --version 0.9 -o "$T/r0.tar.gz"
t_check sign_not_required_unsigned_ok expect_exit 0 fl push "$T/r0.tar.gz" -l t01

# Require it (a path relative to fleet.ini).
sed -i 's|^\[fleet\]$|[fleet]\nrequire_signature = good.pub|' "$INV"
echo two >"$T/rel/file"
run fl bundle "$T/rel" --version 2.0 -o "$T/r2.tar.gz"
before=$(git -C "$HIST" rev-list --count main)
refused() {
	expect_exit 2 fl push "$1" -l t01 || return 1
	printf '%s\n' "$T_OUT" | grep -qE "$2" || { T_WHY="message: $T_OUT"; return 1; }
	[ "$(readlink "$FLEET/t01/root/app/current" | grep -c '2\.0')" = 0 ] || { T_WHY="t01 switched"; return 1; }
	return 0
}
t_check sign_unsigned_refused refused "$T/r2.tar.gz" 'not signed.*require_signature'
run fl bundle "$T/rel" --version 2.0 --sign "$T/other.key" -o "$T/r2.tar.gz"
t_check sign_other_key_refused refused "$T/r2.tar.gz" 'not a trusted key'
# A good signature of release 1 put beside release 2: does not match its manifest.
cp "$T/r1.tar.gz.sig" "$T/r2.tar.gz.sig"
t_check sign_wrong_release_refused refused "$T/r2.tar.gz" 'does not match'
sed 's/^sig ./sig A/' "$T/r1.tar.gz.sig" >"$T/r2.tar.gz.sig"
run fl bundle "$T/rel" --version 2.0 --sign "$T/good.key" -o "$T/r2b.tar.gz"
sed 's/^sig ..../sig AAAA/' "$T/r2b.tar.gz.sig" >"$T/r2.tar.gz.sig"
t_check sign_tampered_refused refused "$T/r2.tar.gz" 'does not match|bad .sig. line'
printf 'garbage\n' >"$T/r2.tar.gz.sig"
t_check sign_garbage_refused refused "$T/r2.tar.gz" 'not a fleetctl signature'
[ "$(git -C "$HIST" rev-list --count main)" = "$before" ] && pass sign_refusals_record_nothing ||
	fail sign_refusals_record_nothing "commits $before -> $(git -C "$HIST" rev-list --count main)"

# A good one goes, and the history names the key.
t_check sign_good_accepted expect_exit 0 fl push "$T/r1.tar.gz" -l t01,t02
git -C "$HIST" log -1 --format=%B | grep -q '^Signed-by: ed25519:.* (.*good.pub)' && pass sign_history_records_signer ||
	fail sign_history_records_signer "$(git -C "$HIST" log -1 --format=%B | tail -n 5)"
echo three >"$T/rel/file"
t_check sign_push_dir_with_sign expect_exit 0 fl push "$T/rel" --version 3.0 --sign "$T/good.key" -l t01
t_check sign_push_dir_unsigned_refused expect_exit 2 fl push "$T/rel" --version 3.1 -l t01

# retry checks the signature kept in the store: a stored signature removed makes it refuse.
fleet_stop_one "$FLEET" t02
run fl push "$T/rel" --version 4.0 --sign "$T/good.key" -l t01,t02 --json
run_id=$(printf '%s\n' "$T_STDOUT" | jq -r 'select(.summary == true) | .run')
fleet_start_one "$FLEET" t02
sha=$(ls "$FLEET/state/bundles/" | grep '\.sig$' | while read -r f; do echo "$f"; done | wc -l)
[ "$sha" -ge 2 ] && pass sign_signatures_kept_in_store || fail sign_signatures_kept_in_store "$(ls "$FLEET/state/bundles/")"
mv "$FLEET/state/bundles" "$T/bundles.bak"
mkdir "$FLEET/state/bundles"
for f in "$T"/bundles.bak/*; do case "$f" in *.sig) ;; *) cp "$f" "$FLEET/state/bundles/" ;; esac; done
t_check sign_retry_without_signature_refused expect_exit 2 fl retry "$run_id"
cp "$T"/bundles.bak/*.sig "$FLEET/state/bundles/"
t_check sign_retry_with_signature_ok expect_exit 0 fl retry "$run_id"

t_done
