#!/bin/sh
# install_relocated — an installed lethe works wherever its prefix is moved,
# and never from the build tree: install to a temporary prefix, move the
# prefix elsewhere, then check from there that
#   - the program holds no path into the build tree (it cannot search it);
#   - `lethe methods` lists every installed plugin from the moved prefix, and
#     the plugin path is that one directory;
#   - --plugin-path, then $LETHE_PLUGIN_PATH, still come first;
#   - a suite that loads its methods by name validates;
#   - pkg-config --define-prefix points into the moved prefix, and a plugin
#     built with it and copied to its plugindir is found with no setting.
# usage: install_relocated.sh BUILD_DIR SOURCE_DIR CC
set -eu
build=$(cd "$1" && pwd -P) src=$(cd "$2" && pwd -P) cc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tmp=$(cd "$tmp" && pwd -P) # the paths lethe prints are canonical
fail() { echo "install_relocated: $*" >&2; exit 1; }
unset LETHE_PLUGIN_PATH

cmake --install "$build" --prefix "$tmp/p1" >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; fail "cmake --install failed"; }
mv "$tmp/p1" "$tmp/p2"
prefix=$tmp/p2
lethe=$prefix/bin/lethe
npo=$(find "$prefix" -name lethe_npo.so)
[ -n "$npo" ] || fail "no plugins installed under the prefix"
plugins=$(dirname "$npo")

# Nothing compiled into the program can name the build tree. Only .rodata is
# read: debug information (RelWithDebInfo builds) names the build directory.
if command -v objcopy >/dev/null 2>&1; then
  objcopy -O binary -j .rodata "$lethe" "$tmp/rodata"
  ! grep -qF "$build" "$tmp/rodata" || fail "the installed program holds the path $build"
fi

(cd "$tmp" && "$lethe" methods) >"$tmp/list.txt" 2>"$tmp/list.err" ||
  { cat "$tmp/list.txt" "$tmp/list.err" >&2; fail "the moved install's lethe methods failed"; }
installed=$(find "$plugins" -name 'lethe_*.so' | wc -l)
listed=$(grep -c "^ *$plugins/lethe_[a-z0-9_]*\.so\$" "$tmp/list.txt" || true)
{ [ "$listed" -eq "$installed" ] && grep -qx "plugin path: $plugins" "$tmp/list.txt"; } ||
  { cat "$tmp/list.txt" >&2; fail "expected the $installed plugins of $plugins and that path alone"; }

# the user's directories come first: --plugin-path, then $LETHE_PLUGIN_PATH
mkdir "$tmp/cli" "$tmp/env"
cp "$plugins/lethe_ga.so" "$tmp/cli/"
cp "$plugins/lethe_ga.so" "$plugins/lethe_npo.so" "$tmp/env/"
LETHE_PLUGIN_PATH="$tmp/env" "$lethe" methods --plugin-path "$tmp/cli" >"$tmp/order.txt" 2>/dev/null ||
  fail "lethe methods with --plugin-path and LETHE_PLUGIN_PATH failed"
{ grep -qx " *$tmp/cli/lethe_ga.so" "$tmp/order.txt" &&
  grep -qx " *$tmp/env/lethe_npo.so" "$tmp/order.txt" &&
  grep -qx "plugin path: $tmp/cli:$tmp/env:$plugins" "$tmp/order.txt"; } ||
  { cat "$tmp/order.txt" >&2; fail "--plugin-path and LETHE_PLUGIN_PATH do not come first"; }

(cd "$tmp" && LETHE_CACHE_DIR="$tmp/cache" "$lethe" suite validate "$src/configs/suites/paper.cfg") \
  >"$tmp/suite.txt" 2>&1 || { cat "$tmp/suite.txt" >&2; fail "the paper suite does not validate"; }

# pkg-config: every path follows the prefix it is found in
pc=$(find "$prefix" -name lethe.pc)
pkgconf() { PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-prefix "$@" lethe; }
[ "$(pkgconf --variable=plugindir)" = "$plugins" ] ||
  fail "pkg-config plugindir is $(pkgconf --variable=plugindir), expected $plugins"
[ -f "$(pkgconf --variable=includedir)/lethe/method.h" ] ||
  fail "pkg-config includedir $(pkgconf --variable=includedir) has no lethe/method.h"
# shellcheck disable=SC2046  # the flags are meant to split
"$cc" -std=c11 -O2 -fPIC -shared -fvisibility=hidden -Wl,--no-undefined \
  -o "$(pkgconf --variable=plugindir)/lethe_example.so" "$src/contrib/example_method/example.c" \
  $(pkgconf --cflags --libs) || fail "the example does not build against the moved prefix"
"$lethe" methods example >"$tmp/example.txt" 2>&1 ||
  { cat "$tmp/example.txt" >&2; fail "a plugin dropped in pkg-config's plugindir is not found"; }
echo "install_relocated: ok"
