#!/usr/bin/env bash
# Start a built bundle the way a new user would and run its self-test:
# a clean environment (no venv, no PYTHONPATH, an empty HOME), no network when
# possible, a check that the bundle folder is unchanged after (path, size, mtime),
# and a quick run of the bundled command line.
# On Linux it also starts the GUI on a real X server (Xvfb) twice: the self-test with the xcb
# platform, and a plain first start (a fresh HOME) whose window is saved as a screenshot,
# <bundle>/../first-start.png (or $TLSTUDIO_SCREENSHOT). Debian packages this needs:
# xvfb, xdotool, imagemagick.
# Usage: packaging/selftest_bundle.sh [dist/TLStudio] [extra self-test args...]
set -euo pipefail
BUNDLE=$(cd "${1:-dist/TLStudio}" && pwd)
shift || true
[ -x "$BUNDLE/TLStudio" ] || { echo "selftest_bundle.sh: $BUNDLE/TLStudio not found; run make package" >&2; exit 1; }
FAKE_HOME=$(mktemp -d)
FIRST_HOME=$(mktemp -d)
LISTING=$(mktemp -d)
trap 'rm -rf "$FAKE_HOME" "$FIRST_HOME" "$LISTING"' EXIT
SHOT=${TLSTUDIO_SCREENSHOT:-$(dirname "$BUNDLE")/first-start.png}

listing() { (cd "$BUNDLE" && find . -printf '%p %s %T@\n' | LC_ALL=C sort); }
listing > "$LISTING/before"

# No network: a fresh network namespace when we may make one, else no proxies at least.
NONET=()
if command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
    NONET=(unshare -n)
fi
echo "self-test: $BUNDLE/TLStudio --self-test $* (network: ${NONET[*]:-not isolated})" >&2
START=$(date +%s)
set +e
"${NONET[@]}" env -i PATH=/usr/bin:/bin HOME="$FAKE_HOME" QT_QPA_PLATFORM=offscreen \
    "$BUNDLE/TLStudio" --self-test "$@" > "$LISTING/out" 2> "$LISTING/err"
RC=$?
CLI_RC=0
"${NONET[@]}" env -i PATH=/usr/bin:/bin HOME="$FAKE_HOME" \
    "$BUNDLE/tlstudio-cli" scan "$BUNDLE/_internal/resources/demo_data" --json > "$LISTING/cli" 2>> "$LISTING/err" || CLI_RC=$?
"${NONET[@]}" env -i PATH=/usr/bin:/bin HOME="$FAKE_HOME" \
    "$BUNDLE/tlstudio-cli" scan "$BUNDLE/_internal/resources/demo_text_data/wordnet_definitions.csv" --json \
    > "$LISTING/cli_text" 2>> "$LISTING/err" || CLI_RC=$?
# On Linux, also start the GUI on a real X server with the xcb platform (what a desktop user gets),
# not only offscreen: the bundle must carry the X11 helper libraries Qt's xcb plugin loads.
XCB_RC=0
if [ "$(uname -s)" = Linux ]; then
    for tool in Xvfb:xvfb xdotool:xdotool import:imagemagick; do
        if ! command -v "${tool%%:*}" >/dev/null 2>&1; then
            echo "self-test: FAILED - ${tool%%:*} is needed to start the bundle on a real X server" \
                 "(sudo apt install xvfb xdotool imagemagick)" >&2
            exit 1
        fi
    done
    exec 3<> "$LISTING/displayfd"
    Xvfb -displayfd 3 -nolisten tcp -screen 0 1280x800x24 > "$LISTING/xvfb" 2>&1 &
    XVFB_PID=$!
    for _ in $(seq 100); do [ -s "$LISTING/displayfd" ] && break; sleep 0.1; done
    DISPLAY_NUM=$(head -n 1 "$LISTING/displayfd" | tr -dc 0-9)
    "${NONET[@]}" env -i PATH=/usr/bin:/bin HOME="$FAKE_HOME" DISPLAY=":$DISPLAY_NUM" QT_QPA_PLATFORM=xcb \
        "$BUNDLE/TLStudio" --self-test --epochs 1 --no-text > "$LISTING/xcb" 2>> "$LISTING/err" || XCB_RC=$?
    # A user's first start: the plain GUI, fresh HOME; wait for the main window, let it paint, save the screen.
    "${NONET[@]}" env -i PATH=/usr/bin:/bin HOME="$FIRST_HOME" DISPLAY=":$DISPLAY_NUM" \
        "$BUNDLE/TLStudio" > "$LISTING/first" 2>&1 &
    GUI_PID=$!
    SHOT_RC=0
    if DISPLAY=":$DISPLAY_NUM" timeout 180 xdotool search --sync --onlyvisible --name '^TL Studio$' > "$LISTING/wid"; then
        sleep 5   # the splash closes, the start page paints
        DISPLAY=":$DISPLAY_NUM" import -window root "$SHOT.part.png" && mv "$SHOT.part.png" "$SHOT" || SHOT_RC=$?
    else
        SHOT_RC=1
    fi
    kill "$GUI_PID" 2>/dev/null || true
    wait "$GUI_PID" 2>/dev/null || true
    kill "$XVFB_PID" 2>/dev/null || true
    wait "$XVFB_PID" 2>/dev/null || true
    exec 3>&-
fi
set -e
END=$(date +%s)
listing > "$LISTING/after"
tail -n 20 "$LISTING/err" >&2
tail -n 1 "$LISTING/out"
echo "self-test: exit $RC after $((END - START)) s; user folders written: $(cd "$FAKE_HOME" && find . -mindepth 2 -maxdepth 3 -type d | LC_ALL=C sort | tr '\n' ' ')" >&2
if ! cmp -s "$LISTING/before" "$LISTING/after"; then
    echo "self-test: FAILED - the bundle folder changed:" >&2
    diff "$LISTING/before" "$LISTING/after" | head -n 20 >&2
    exit 1
fi
if [ "$CLI_RC" != 0 ] || ! grep -q '"classes"' "$LISTING/cli" || ! grep -q '"task": "text"' "$LISTING/cli_text"; then
    echo "self-test: FAILED - tlstudio-cli scan exited $CLI_RC" >&2
    exit 1
fi
echo "self-test: tlstudio-cli scan of the image and text demo data: ok" >&2
if [ "$(uname -s)" = Linux ]; then
    if [ "$XCB_RC" != 0 ] || ! grep -q '"qt_platform": "xcb"' "$LISTING/xcb"; then
        echo "self-test: FAILED - the GUI did not start on Xvfb with the xcb platform (exit $XCB_RC):" >&2
        tail -n 1 "$LISTING/xcb" >&2
        exit 1
    fi
    echo "self-test: GUI on a real X server (Xvfb, xcb platform): ok" >&2
    if [ "$SHOT_RC" != 0 ]; then
        echo "self-test: FAILED - the plain first start showed no main window on Xvfb within 180 s:" >&2
        tail -n 5 "$LISTING/first" >&2
        exit 1
    fi
    echo "self-test: first start on Xvfb, screenshot: $SHOT" >&2
fi
exit $RC
