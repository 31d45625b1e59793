#!/bin/sh
# Install TL Studio for the current user (no root needed):
#   the app folder    -> ~/.local/opt/TLStudio
#   the menu entry    -> ~/.local/share/applications/tlstudio.desktop
#   the icon          -> ~/.local/share/icons/hicolor/256x256/apps/tlstudio.png
#   AppStream data    -> ~/.local/share/metainfo/org.tlstudio.TLStudio.metainfo.xml
#   the command line  -> ~/.local/bin/tlstudio-cli (a link)
# Run it from the unpacked archive: ./install.sh   (./install.sh --uninstall removes it all)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${XDG_DATA_HOME:-$HOME/.local/share}
OPT=$HOME/.local/opt/TLStudio
BIN=$HOME/.local/bin
DESKTOP=$PREFIX/applications/tlstudio.desktop
ICON=$PREFIX/icons/hicolor/256x256/apps/tlstudio.png
METAINFO=$PREFIX/metainfo/org.tlstudio.TLStudio.metainfo.xml

if [ "${1:-}" = "--uninstall" ]; then
    rm -rf "$OPT" "$DESKTOP" "$ICON" "$METAINFO"
    [ -L "$BIN/tlstudio-cli" ] && rm -f "$BIN/tlstudio-cli"
    echo "TL Studio removed (your projects and caches are left alone)."
    exit 0
fi

[ -x "$HERE/TLStudio/TLStudio" ] || { echo "install.sh: run me from the unpacked archive (TLStudio/ missing)" >&2; exit 1; }
mkdir -p "$(dirname "$OPT")" "$BIN" "$(dirname "$DESKTOP")" "$(dirname "$ICON")" "$(dirname "$METAINFO")"
rm -rf "$OPT.new"
cp -a "$HERE/TLStudio" "$OPT.new"
rm -rf "$OPT"
mv "$OPT.new" "$OPT"
sed "s#@BUNDLE@#$OPT#g" "$HERE/tlstudio.desktop" > "$DESKTOP"
cp "$HERE/tlstudio.png" "$ICON"
[ -f "$HERE/org.tlstudio.TLStudio.metainfo.xml" ] && cp "$HERE/org.tlstudio.TLStudio.metainfo.xml" "$METAINFO"
ln -sf "$OPT/tlstudio-cli" "$BIN/tlstudio-cli"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$(dirname "$DESKTOP")" 2>/dev/null || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q "$PREFIX/icons/hicolor" 2>/dev/null || true
echo "TL Studio installed in $OPT; start it from the applications menu or with $OPT/TLStudio"
