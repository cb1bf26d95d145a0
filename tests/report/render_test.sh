#!/bin/sh
# render_test — renders the report of two fixture suites (the paper's 7
# methods x 3 splits x 2 seeds, and a beta grid) in headless Chromium and
# checks the screenshots are not blank: enough ink, enough colours, and the
# method colours present. Exits 77 (skipped) when chromium is not installed.
# usage: render_test.sh LETHE TEST_REPORT OUT_DIR
set -eu
lethe=$1
fixture=$2
out=$3
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "SKIPPED: chromium is not installed (Debian: apt-get install -y chromium)"
  exit 77
fi
if ! command -v python3 >/dev/null; then
  echo "SKIPPED: python3 is not installed (needed to read the screenshot)"
  exit 77
fi
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$out"
mkdir -p "$out"
for kind in paper grid; do
  "$fixture" fixture "$kind" "$out/$kind"
  "$lethe" report "$out/$kind"
  profile=$(mktemp -d)
  timeout 180 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$profile" --screenshot="$out/$kind.png" \
    --window-size=1280,4000 "file://$out/$kind/report.html" >"$out/$kind.chromium.log" 2>&1 || {
    cat "$out/$kind.chromium.log"
    rm -rf "$profile"
    echo "FAIL: chromium could not render $out/$kind/report.html"
    exit 1
  }
  rm -rf "$profile"
  if [ "$kind" = paper ]; then
    colours="#d55e00 #e69f00 #cc79a7 #56b4e9 #0072b2 #7b4ea3 #117733"
  else
    colours="#7b4ea3 #117733"
  fi
  # shellcheck disable=SC2086
  python3 "$here/png_check.py" "$out/$kind.png" --min-ink 0.05 --min-colours 64 $colours
done
echo "rendered: $out/paper.png $out/grid.png"
