#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the explorer's browser test, idempotently.
# Debian's package, not `playwright install`: only the package registries are reachable.
set -euo pipefail
source "$(dirname "$0")/common.sh"

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
# fonts-liberation: without a Latin font the screenshots show boxes instead of text.
apt_install chromium fonts-liberation
[ -x /usr/bin/chromium ] || die "chromium was installed but /usr/bin/chromium is missing"
say "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo installed)"
