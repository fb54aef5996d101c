#!/usr/bin/env bash
# Installs everything the project needs, idempotently: Debian packages and a venv in .cache/.
set -euo pipefail
source "$(dirname "$0")/common.sh"

apt_install redis-server
if [ ! -x "$VENV/bin/python" ]; then
  say "creating the Python environment in $VENV"
  python3 -m venv "$VENV"
fi
stamp=$VENV/.installed
want=$(cat "$ROOT/setup.py" | sha1sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$VENV/bin/python" -c "import spectator" 2>/dev/null; then
  say "installing the project and its dependencies (pip)"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e "$ROOT[test]"
  echo "$want" > "$stamp"
fi
