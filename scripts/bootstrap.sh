#!/usr/bin/env bash
# Installs everything the project needs, idempotently: Debian packages and a venv in .cache/.
set -euo pipefail
source "$(dirname "$0")/common.sh"

apt_install redis-server openssl
"$ROOT/scripts/chromium.sh"  # Debian's chromium, for the explorer's browser test
if [ ! -x "$VENV/bin/python" ]; then
  say "creating the Python environment in $VENV"
  python3 -m venv "$VENV"
fi
stamp=$VENV/.installed
want=$(cat "$ROOT/setup.py" | sha1sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$VENV/bin/python" -c "import spectator" 2>/dev/null; then
  say "installing the project and its dependencies (pip)"
  log=$CACHE/pip-install.log
  { "$VENV/bin/pip" install --upgrade pip && "$VENV/bin/pip" install -e "$ROOT[test]"; } >"$log" 2>&1 \
    || { tail -30 "$log" >&2; die "pip install failed; the whole log is in $log"; }
  echo "$want" > "$stamp"
fi
