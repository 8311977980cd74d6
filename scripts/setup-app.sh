#!/usr/bin/env bash
# Install what the app needs to run: the pinned Python packages, the front-end scripts that the
# bertviz views load (served locally so they work offline; the CDN is only a fallback), and
# distilroberta-base into the Hugging Face cache when the hub can be reached (safetensors only,
# with a progress bar); offline, one line says the download was skipped and the script exits 0.
#
#   EXPLORER_SETUP_SKIP_INSTALL=1  skip the pip and npm steps (only fetch the model)
#   EXPLORER_SETUP_MODEL=name      fetch this hub id instead of distilroberta-base ("" skips it)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${EXPLORER_SETUP_SKIP_INSTALL:-0}" != "1" ]; then
  python -m pip install -q -r requirements.txt
  if [ -f package.json ] && command -v npm >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent
  fi
fi
model="${EXPLORER_SETUP_MODEL-distilroberta-base}"
if [ -n "$model" ]; then
  python scripts/download_model.py "$model"
fi
