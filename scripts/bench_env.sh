#!/usr/bin/env bash
# The benchmarks' own venv (.cache/bench-venv): the project plus bench/requirements.txt, so the
# peers (Quix Streams, Bytewax) and matplotlib never enter the test venv. Prints its python.
set -euo pipefail
source "$(dirname "$0")/common.sh"
"$ROOT/scripts/bootstrap.sh"
BENCH_VENV=$CACHE/bench-venv
[ -x "$BENCH_VENV/bin/python" ] || python3 -m venv "$BENCH_VENV"
stamp=$BENCH_VENV/.installed
want=$(cat "$ROOT/setup.py" "$ROOT/bench/requirements.txt" | sha1sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing the benchmarks' environment in $BENCH_VENV (pip)"
  log=$CACHE/bench-pip-install.log
  { "$BENCH_VENV/bin/pip" install --upgrade pip \
      && "$BENCH_VENV/bin/pip" install -e "$ROOT" -r "$ROOT/bench/requirements.txt"; } >"$log" 2>&1 \
    || { tail -30 "$log" >&2; die "pip install failed; the whole log is in $log"; }
  echo "$want" > "$stamp"
fi
echo "$BENCH_VENV/bin/python"
