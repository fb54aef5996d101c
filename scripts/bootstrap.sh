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

# The Flink Kubernetes Operator's CRDs, schemas and all, which tests/unit/test_manifests.py checks the
# manifests in deploy/k8s against (docs/kubernetes.md). They ship in the operator's API jar on Maven
# Central, under META-INF/fabric8/. Fetched once into $CACHE/k8s/crds; the stamp holds the version.
FLINK_OPERATOR_VERSION=1.10.0  # the Flink Kubernetes Operator release that supports Flink 1.19
crds=$CACHE/k8s/crds
pom=$ROOT/deploy/operator-crds/pom.xml
want="flink-kubernetes-operator-api $FLINK_OPERATOR_VERSION $(sha1sum <"$pom" | cut -d' ' -f1)"
if [ "$(cat "$crds/.fetched" 2>/dev/null)" != "$want" ]; then
  say "fetching the Flink Kubernetes Operator's CRDs ($FLINK_OPERATOR_VERSION) from Maven Central"
  command -v mvn >/dev/null || apt_install maven
  log=$CACHE/crds-fetch.log
  rm -rf "$crds.tmp"
  mvn -B -q -f "$pom" -Dflink.operator.version="$FLINK_OPERATOR_VERSION" dependency:copy-dependencies \
      -DoutputDirectory="$crds.tmp/jar" >"$log" 2>&1 \
    || { tail -30 "$log" >&2; die "fetching the operator's CRDs failed; the whole log is in $log"; }
  # Only the apiextensions.k8s.io/v1 CRDs (*-v1.yml): the jar's *-v1beta1.yml are the same CRDs in
  # the format Kubernetes dropped in 1.22.
  python3 - "$crds.tmp" <<'PY' || die "no CRDs in the operator's API jar (see $crds.tmp/jar)"
import sys, zipfile
from pathlib import Path
out = Path(sys.argv[1])
(jar,) = (out / "jar").glob("*.jar")
with zipfile.ZipFile(jar) as z:
    names = [n for n in z.namelist() if n.startswith("META-INF/fabric8/") and n.endswith("-v1.yml")]
    for name in names:
        (out / Path(name).name).write_bytes(z.read(name))
sys.exit(0 if names else 1)
PY
  rm -rf "$crds.tmp/jar" "$crds"
  mv "$crds.tmp" "$crds"
  echo "$want" >"$crds/.fetched"
fi
