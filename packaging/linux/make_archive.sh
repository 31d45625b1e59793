#!/usr/bin/env bash
# Turn the PyInstaller folder into a distributable archive:
#   TLStudio-<version>-linux-<arch>[-<flavour>].tar.zst
#     TLStudio/ (the app), install.sh, tlstudio.desktop, tlstudio.png, org.tlstudio.TLStudio.metainfo.xml
# Usage: packaging/linux/make_archive.sh DIST_FOLDER OUT_DIR [FLAVOUR]
# ARCHIVE=zst (default: zstd -12 --long, multi-threaded; `tar -xf` unpacks it where zstd is installed),
# ARCHIVE=xz (smallest, ~15% below zstd on the CPU code, but ~10x slower to make) or ARCHIVE=gz.
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
# The two executables are byte-identical on Linux (the same bootloader and embedded Python archive,
# ~75 MB; the entry script picks GUI or CLI by name): one hard link in the stage, so the unpacked
# folder holds it once (75 MB less on disk; cp -a in install.sh keeps the link). The download does
# not shrink: zstd's --long window already stores the second copy as a back-reference.
if cmp -s "$STAGE/$NAME/TLStudio/TLStudio" "$STAGE/$NAME/TLStudio/tlstudio-cli"; then
    ln -f "$STAGE/$NAME/TLStudio/TLStudio" "$STAGE/$NAME/TLStudio/tlstudio-cli"
fi
cp "$ROOT/packaging/linux/install.sh" "$ROOT/packaging/linux/tlstudio.desktop" \
   "$ROOT/packaging/linux/org.tlstudio.TLStudio.metainfo.xml" "$STAGE/$NAME/"
cp "$ICON" "$STAGE/$NAME/tlstudio.png"
mkdir -p "$OUT"
# Most of the bundle is machine code: zstd -12 makes it ~30% smaller than gzip -1 at a few
# minutes per GB on two cores; GPU code (already compressed fat binaries) barely shrinks.
case "${ARCHIVE:-zst}" in
    zst) EXT=tar.zst; COMPRESS=(zstd -q -12 --long=27 -T0) ;;
    xz)  EXT=tar.xz;  COMPRESS=(xz -6 -T0) ;;
    gz)  EXT=tar.gz;  if command -v pigz >/dev/null 2>&1; then COMPRESS=(pigz -6); else COMPRESS=(gzip -6); fi ;;
    *)   echo "make_archive.sh: ARCHIVE must be zst, xz or gz" >&2; exit 2 ;;
esac
command -v "${COMPRESS[0]}" >/dev/null 2>&1 || { echo "make_archive.sh: ${COMPRESS[0]} is needed (Debian: sudo apt install ${COMPRESS[0]/xz/xz-utils})" >&2; exit 1; }
rm -f "$OUT/$NAME".tar.*
tar -C "$STAGE" -cf - "$NAME" | "${COMPRESS[@]}" > "$OUT/$NAME.$EXT.part"
mv "$OUT/$NAME.$EXT.part" "$OUT/$NAME.$EXT"
echo "$OUT/$NAME.$EXT"
