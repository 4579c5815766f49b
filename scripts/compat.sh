#!/usr/bin/env bash
# make compat: the instrumentation tests against the oldest supported library set and the
# pinned latest, each in its own venv (.venv-compat-oldest, .venv-compat-latest).
# The tests are tests/instrumentation only, run with --confcutdir so the shop's fixtures
# (and services/gen, which needs newer grpcio/protobuf) are never imported.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

# The floors instrumentation/README.md states; pyproject.toml's "instrumentation" extra.
OLDEST=(
  grpcio==1.62.3 protobuf==4.25.8
  opentelemetry-api==1.25.0 opentelemetry-sdk==1.25.0 opentelemetry-proto==1.25.0
  opentelemetry-exporter-otlp-proto-grpc==1.25.0 opentelemetry-exporter-otlp-proto-http==1.25.0
  opentelemetry-instrumentation==0.46b0 opentelemetry-instrumentation-grpc==0.46b0
  opentelemetry-distro==0.46b0
  prometheus-client==0.20.0 Flask==2.3.3 Werkzeug==2.3.8
  pytest==8.3.5 pytest-timeout==2.3.1
)
# The pinned latest: the same packages at requirements.lock's versions.
LATEST=(
  grpcio protobuf opentelemetry-api opentelemetry-sdk opentelemetry-proto
  opentelemetry-exporter-otlp-proto-grpc opentelemetry-exporter-otlp-proto-http
  opentelemetry-instrumentation opentelemetry-instrumentation-grpc opentelemetry-distro
  prometheus-client Flask pytest pytest-timeout
)

run_set() {
  local name="$1"; shift
  local venv=".venv-compat-$name"
  echo "== compat [$name]: venv $venv"
  if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
  fi
  echo "== compat [$name]: pip install $*"
  "$venv/bin/python" -m pip install -q "$@"
  "$venv/bin/python" -m pip list 2>/dev/null \
    | grep -i -E '^(grpcio|protobuf|opentelemetry-(api|sdk|instrumentation-grpc)|prometheus.client|flask) ' \
    | sed "s/^/== compat [$name]:   /"
  echo "== compat [$name]: pytest tests/instrumentation"
  PYTHONPATH=. "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    --confcutdir=tests/instrumentation tests/instrumentation
}

run_set oldest "${OLDEST[@]}"
run_set latest -c requirements.lock "${LATEST[@]}"
echo "== compat: both sets passed"
