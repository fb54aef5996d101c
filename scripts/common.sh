# Sourced by the project's scripts: paths, and the venv every command runs in.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SPECTATOR_CACHE:-$ROOT/.cache}
VENV=$CACHE/venv
RUN_DIR=$CACHE/run
export SPECTATOR_REDIS_PORT=${SPECTATOR_REDIS_PORT:-6390}
export SPECTATOR_REDIS_URL=${SPECTATOR_REDIS_URL:-redis://127.0.0.1:$SPECTATOR_REDIS_PORT/0}
mkdir -p "$RUN_DIR"
# Pinned once, in setup.py: the Python SDK, the KafkaIO expansion service and the Flink job server
# must be the same Beam.
BEAM_VERSION=$(sed -n 's/^BEAM_VERSION = "\([^"]*\)".*/\1/p' "$ROOT/setup.py")

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

apt_install() {  # apt_install PACKAGE...: installs the Debian packages that are missing
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  say "installing ${missing[*]} from Debian's packages"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop_pid() {  # stop_pid PIDFILE [SECONDS]: TERM, then KILL after a grace period
  local pidfile=$1 grace=${2:-20} pid
  pid_alive "$pidfile" || { rm -f "$pidfile"; return 0; }
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq $((grace * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

sha() { cat "$@" | sha256sum | cut -c1-16; }

with_lock() {  # with_lock NAME CMD...: one fetch, up or down of NAME at a time per cache
  local lock=$CACHE/.$1.lock
  shift
  command -v flock >/dev/null || { "$@"; return; }  # util-linux's flock; without it, no lock
  (
    flock -w 900 9 || die "timed out waiting for $lock"
    "$@"
  ) 9>"$lock"
}
[ -n "$BEAM_VERSION" ] || die "no BEAM_VERSION in $ROOT/setup.py"
