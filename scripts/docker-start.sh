#!/bin/sh
# Start the app in the container on $PORT (default 8501), listening on $HOST (default 0.0.0.0).
# Uses the model folder baked in at build time; when the build put none there, falls back to
# $EXPLORER_FALLBACK_MODEL (a hub id, downloaded on first use when the container has internet).
set -eu
case "${EXPLORER_MODEL:-}" in
  /*)
    if [ ! -f "${EXPLORER_MODEL}/config.json" ] && [ -n "${EXPLORER_FALLBACK_MODEL:-}" ]; then
      echo "No model folder at ${EXPLORER_MODEL}; using ${EXPLORER_FALLBACK_MODEL}." >&2
      export EXPLORER_MODEL="${EXPLORER_FALLBACK_MODEL}"
    fi
    ;;
esac
exec python -m streamlit run app.py \
  --server.address "${HOST:-0.0.0.0}" \
  --server.port "${PORT:-8501}" \
  --server.headless true \
  --server.fileWatcherType none
