# Sourced by the scripts: need_packages PKG... installs the Debian packages
# that are missing (when root; otherwise says which and exits 1).
need_packages() {
  local missing="" p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
  else
    echo "missing packages:$missing (run: sudo apt-get install$missing)" >&2
    exit 1
  fi
}
