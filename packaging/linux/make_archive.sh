#!/usr/bin/env bash
# Turn the PyInstaller folder into a distributable archive:
#   TLStudio-<version>-linux-<arch>[-<flavour>].tar.gz
#     TLStudio/ (the app), install.sh, tlstudio.desktop, tlstudio.png
# Usage: packaging/linux/make_archive.sh DIST_FOLDER OUT_DIR [FLAVOUR]
set -euo pipefail
BUNDLE=${1:?bundle folder (dist/TLStudio)}
OUT=${2:?output folder}
FLAVOUR=${3:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VERSION=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -n1)
NAME="TLStudio-$VERSION-linux-$(uname -m)${FLAVOUR:+-$FLAVOUR}"
ICON="$ROOT/resources/icons/app.png"
[ -f "$ICON" ] || ICON="$ROOT/packaging/icons/tlstudio.png"
[ -x "$BUNDLE/TLStudio" ] || { echo "make_archive.sh: $BUNDLE/TLStudio not found; build first" >&2; exit 1; }

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir "$STAGE/$NAME"
# Hard links when on the same file system: the bundle is gigabytes.
cp -al "$BUNDLE" "$STAGE/$NAME/TLStudio" 2>/dev/null || cp -a "$BUNDLE" "$STAGE/$NAME/TLStudio"
cp "$ROOT/packaging/linux/install.sh" "$ROOT/packaging/linux/tlstudio.desktop" "$STAGE/$NAME/"
cp "$ICON" "$STAGE/$NAME/tlstudio.png"
mkdir -p "$OUT"
# Fast compression: most of the bundle is already-compressed machine code.
if command -v pigz >/dev/null 2>&1; then COMPRESS="pigz -1"; else COMPRESS="gzip -1"; fi
tar -C "$STAGE" -cf - "$NAME" | $COMPRESS > "$OUT/$NAME.tar.gz.part"
mv "$OUT/$NAME.tar.gz.part" "$OUT/$NAME.tar.gz"
echo "$OUT/$NAME.tar.gz"
