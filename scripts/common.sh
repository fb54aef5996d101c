# Sourced by the project's scripts: paths, the venv every command runs in, and the services module.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${SPECTATOR_CACHE:-$ROOT/.cache}
VENV=$CACHE/venv
RUN_DIR=$CACHE/run
export SPECTATOR_REDIS_PORT=${SPECTATOR_REDIS_PORT:-6390}
export SPECTATOR_REDIS_URL=${SPECTATOR_REDIS_URL:-redis://127.0.0.1:$SPECTATOR_REDIS_PORT/0}
mkdir -p "$RUN_DIR"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Starting, stopping and checking the local services (services/, standard library only: it runs
# before the venv exists).
services() { PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" python3 -m services "$@"; }

apt_install() {  # apt_install PACKAGE...: installs the Debian packages that are missing
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  say "installing ${missing[*]} from Debian's packages"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
