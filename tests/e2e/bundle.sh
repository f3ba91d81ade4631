#!/bin/sh
# e2e: `fleetctl bundle` as a user runs it: the release id it prints, the same bytes from the same
# tree, and --check on a good and on a hostile archive.  No terminal needed.
. "$(dirname "$0")/../lib.sh"

t_setup

mkdir -p "$T/rel/bin" "$T/rel/etc"
printf '#!/bin/sh\necho hi\n' >"$T/rel/bin/run"
chmod 755 "$T/rel/bin/run"
printf 'a = 1\n' >"$T/rel/etc/app.conf"
ln -s bin/run "$T/rel/run"

# The id printed is VERSION-<first 12 hex of the archive's SHA-256>.
t_check bundle_exit_0 expect_exit 0 "$FLEETCTL" bundle "$T/rel" --version 1.0 -o "$T/a.tar.gz"
sha=$(sha256sum "$T/a.tar.gz" | cut -c1-64)
id=$(printf '%s\n' "$T_STDOUT" | grep -oE '1\.0-[0-9a-f]{12}' | head -n 1)
[ -n "$id" ] && [ "$id" = "1.0-$(echo "$sha" | cut -c1-12)" ] && pass bundle_prints_id ||
    fail bundle_prints_id "printed '$T_STDOUT', archive sha256 $sha"

# The archive holds the manifest first, then the tree; gzip reads it (as a terminal would).
first=$(tar -tzf "$T/a.tar.gz" | head -n 1)
list=$(tar -tzf "$T/a.tar.gz" | sed 's|/$||' | sort | tr '\n' ' ')
[ "$first" = .fleetctl-manifest ] && [ "$list" = ".fleetctl-manifest bin bin/run etc etc/app.conf run " ] &&
    pass bundle_contents || fail bundle_contents "first '$first', entries '$list'"

# Same tree, same bytes: again later, after touching every mtime, and from a copy elsewhere.
sleep 1
touch "$T/rel/bin/run" "$T/rel/etc/app.conf"
cp -a "$T/rel" "$T/rel2"
run "$FLEETCTL" bundle "$T/rel2" --version 1.0 -o "$T/b.tar.gz"
[ "$(sha256sum <"$T/b.tar.gz")" = "$(sha256sum <"$T/a.tar.gz")" ] && pass bundle_reproducible ||
    fail bundle_reproducible "two bundles of the same tree differ"
run "$FLEETCTL" bundle "$T/rel" --version 1.1 -o "$T/c.tar.gz"
[ "$(sha256sum <"$T/c.tar.gz")" != "$(sha256sum <"$T/a.tar.gz")" ] && pass bundle_version_changes_bytes ||
    fail bundle_version_changes_bytes "1.0 and 1.1 gave the same archive"

# --check: the good one passes and names its id.
t_check bundle_check_good expect_output "^ok $id " "$FLEETCTL" bundle --check "$T/a.tar.gz"
[ "$T_RC" = 0 ] || fail bundle_check_good_exit_0 "exit $T_RC"

# A hostile archive: the good one with an entry ../evil added.
python3 - "$T/a.tar.gz" "$T/evil.tar.gz" <<'EOF'
import io, sys, tarfile
src = tarfile.open(sys.argv[1], "r:gz")
with tarfile.open(sys.argv[2], "w:gz", format=tarfile.PAX_FORMAT) as out:
    for m in src.getmembers():
        out.addfile(m, src.extractfile(m) if m.isfile() else None)
    data = b"owned\n"
    ti = tarfile.TarInfo("../evil")
    ti.size = len(data)
    ti.mode = 0o644
    out.addfile(ti, io.BytesIO(data))
EOF
t_check bundle_check_hostile_exit_1 expect_exit 1 "$FLEETCTL" bundle --check "$T/evil.tar.gz"
printf '%s\n' "$T_STDERR" | grep -qF '../evil' && pass bundle_check_hostile_names_entry ||
    fail bundle_check_hostile_names_entry "stderr: $T_STDERR"
t_check bundle_check_hostile_json expect_exit 1 "$FLEETCTL" bundle --check "$T/evil.tar.gz" --json
[ "$(printf '%s\n' "$T_STDOUT" | jq -r .ok)" = false ] && pass bundle_check_hostile_json_ok_false ||
    fail bundle_check_hostile_json_ok_false "stdout: $T_STDOUT"

# A file changed after bundling (same size, other bytes) no longer matches its manifest hash.
python3 - "$T/a.tar.gz" "$T/tampered.tar.gz" <<'EOF'
import io, sys, tarfile
src = tarfile.open(sys.argv[1], "r:gz")
with tarfile.open(sys.argv[2], "w:gz", format=tarfile.PAX_FORMAT) as out:
    for m in src.getmembers():
        f = src.extractfile(m) if m.isfile() else None
        if m.name == "etc/app.conf":
            f = io.BytesIO(b"a = 2\n")
        out.addfile(m, f)
EOF
t_check bundle_check_tampered_exit_1 expect_exit 1 "$FLEETCTL" bundle --check "$T/tampered.tar.gz"
printf '%s\n' "$T_STDERR" | grep -qF 'etc/app.conf' && pass bundle_check_tampered_names_file ||
    fail bundle_check_tampered_names_file "stderr: $T_STDERR"

t_done
