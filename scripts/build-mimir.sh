#!/usr/bin/env bash
# Builds a Mimir binary from the Go module proxy for the end-to-end tests in
# tests/mimir and prints its path. Each pinned version is built once per
# machine: the binary is cached in MIMIR_CACHE_DIR, by default outside the
# clone (CI runs in a fresh clone every time) in ~/.cache/pushguard/mimir.
#
# Mimir cannot be `go install`ed (its go.mod has replace directives), so the
# module is downloaded and built inside a writable copy of its directory.
set -euo pipefail
cd "$(dirname "$0")/.."

# MIMIR_VERSION pins the Mimir module. The proxy serves Mimir only as a
# pseudo-version (its release tags are not semver): this is Mimir's main
# branch of 2026-04-23, whose VERSION file says 3.0.5.
MIMIR_VERSION="${MIMIR_VERSION:-v1.3.1-0.20260423142704-aced80d74930}"
CACHE_DIR="${MIMIR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pushguard/mimir}"
BIN="$CACHE_DIR/mimir-$MIMIR_VERSION"
GO="${GO:-go}"

if [ -x "$BIN" ]; then
	echo "$BIN"
	exit 0
fi

mkdir -p "$CACHE_DIR"
dir=$(GOFLAGS=-mod=mod "$GO" mod download -json "github.com/grafana/mimir@$MIMIR_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
if [ -z "$dir" ]; then
	echo "build-mimir: could not download github.com/grafana/mimir@$MIMIR_VERSION" >&2
	exit 1
fi

# The module cache is read-only and go build -mod=mod may update go.sum.
src=$(mktemp -d "${TMPDIR:-/tmp}/mimir-src.XXXXXX")
trap 'chmod -R u+w "$src" 2>/dev/null; rm -rf "$src"' EXIT
cp -R "$dir/." "$src/"
chmod -R u+w "$src"

echo "build-mimir: building Mimir $MIMIR_VERSION into $CACHE_DIR (several minutes on a small machine)" >&2
(cd "$src" && GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 "$GO" build -o "$BIN.tmp" ./cmd/mimir) >&2
mv "$BIN.tmp" "$BIN"
echo "$BIN"
