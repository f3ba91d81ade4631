#!/bin/sh
# Install the Debian packages fleetctl needs to build and test; do nothing when all are present.
# Usage: scripts/deps.sh [--bench]   (--bench adds the peer tools the benchmarks compare against)
set -eu
pkgs="build-essential pkg-config libssh2-1-dev libgit2-dev libarchive-dev libinih-dev libjansson-dev
libssl-dev zlib1g-dev openssh-server openssh-client jq busybox zstd gzip iproute2 procps openssl bsdutils dropbear-bin git"
if [ "${1:-}" = "--bench" ]; then
	pkgs="$pkgs pssh pdsh clustershell ansible-core hyperfine time rsync"
fi
missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
