#!/bin/sh
# Refresh the vendored wavesurfer.js (ESM builds of the core, regions and timeline plugins, and its
# licence) under src/aural/web/static/vendor/wavesurfer/ from the npm registry, at the pinned version.
# The page loads them as ES modules from the server itself: nothing is fetched by the browser.
# Usage: scripts/vendor-wavesurfer.sh [VERSION]   (needs npm and tar)
set -eu
VERSION="${1:-7.12.12}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/src/aural/web/static/vendor/wavesurfer"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "wavesurfer.js@$VERSION" >/dev/null)
tar -xzf "$WORK"/wavesurfer.js-"$VERSION".tgz -C "$WORK"
rm -rf "$DEST"
mkdir -p "$DEST/plugins"
cp "$WORK/package/dist/wavesurfer.esm.js" "$DEST/"
cp "$WORK/package/dist/plugins/regions.esm.js" "$WORK/package/dist/plugins/timeline.esm.js" \
  "$DEST/plugins/"
cp "$WORK/package/LICENSE" "$DEST/LICENSE"
printf 'wavesurfer.js %s from the npm registry (npm pack), ESM builds; see LICENSE.\nRefresh: scripts/vendor-wavesurfer.sh %s\n' \
  "$VERSION" "$VERSION" >"$DEST/VERSION"
echo "vendored wavesurfer.js $VERSION into $DEST"
