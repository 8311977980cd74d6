#!/bin/sh
# Start the app in the container on $PORT (default 8501), listening on $HOST (default 0.0.0.0).
# Uses the model folder baked in at build time (or mounted at $EXPLORER_MODEL); when there is
# none, falls back to $EXPLORER_FALLBACK_MODEL (a hub id, downloaded on first use when the
# container has internet; without internet the app shows its offline page, it does not exit).
# `exec` makes the app PID 1's process, so `docker stop` (SIGTERM) reaches it directly.
set -eu
case "${EXPLORER_MODEL:-}" in
  /*)
    if [ -e "${EXPLORER_MODEL}" ] && { [ ! -r "${EXPLORER_MODEL}" ] || [ ! -x "${EXPLORER_MODEL}" ] \
        || { [ -e "${EXPLORER_MODEL}/config.json" ] && [ ! -r "${EXPLORER_MODEL}/config.json" ]; }; }; then
      echo "The model folder ${EXPLORER_MODEL} cannot be read by the app's user" \
        "(UID $(id -u)): make it readable, e.g. chmod -R a+rX on the host folder" \
        "(or chown -R $(id -u) it), then restart the container." >&2
    elif [ ! -f "${EXPLORER_MODEL}/config.json" ] && [ -n "${EXPLORER_FALLBACK_MODEL:-}" ]; then
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
