#!/usr/bin/env bash
# Install what the app needs to run: the pinned Python packages and the front-end scripts that
# the bertviz views load (served locally so they work offline; the CDN is only a fallback).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -r requirements.txt
if [ -f package.json ] && command -v npm >/dev/null 2>&1; then
  npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent
fi
