# syntax=docker/dockerfile:1
# Attention explorer: a CPU-only image that serves the Streamlit app on $PORT (default 8501).
# Base: Debian 12 "bookworm" slim with Debian's Python 3.11; the app's packages in /opt/venv.
#
#   docker build -t attention-explorer .                                 # with internet
#   docker build --build-arg DOWNLOAD_MODEL=0 -t attention-explorer .    # no model download
#   docker run -p 8501:8501 attention-explorer
#   scripts/build-image.sh                 # podman or docker; also works offline (docs/deploy.md)
#
# Offline inputs, all optional, taken from the build context when present:
#   models/distilroberta-base/  a save_pretrained() folder, baked in instead of a download;
#   wheels/*.whl                a wheelhouse (pip download) installed with --no-index instead of
#                               PyPI + PyTorch's CPU index (scripts/build-image.sh makes one);
#   npm/node_modules/           the views' scripts, instead of `npm ci` in the build.
ARG BASE_IMAGE=debian:bookworm-slim

# --- Debian's Python 3.11: the base of the venv and of the final image -----------------------
FROM ${BASE_IMAGE} AS python
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3.11 ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# --- The app's Python packages in a venv; torch is the CPU build (no CUDA libraries) --------
FROM python AS venv
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3.11-venv \
 && rm -rf /var/lib/apt/lists/*
# "wheel[s]" matches nothing when the context has no wheels/ folder (then the indexes are used).
COPY requirements.txt wheel[s] /tmp/build/
RUN python3.11 -m venv /opt/venv \
 && if ls /tmp/build/*.whl >/dev/null 2>&1; then \
      /opt/venv/bin/pip install --no-cache-dir --no-compile --no-index --find-links /tmp/build \
        -r /tmp/build/requirements.txt; \
    else \
      /opt/venv/bin/pip install --no-cache-dir --no-compile \
        --extra-index-url "${TORCH_INDEX_URL}" \
        -r /tmp/build/requirements.txt; \
    fi \
 && /opt/venv/bin/python -c "import torch, sys; sys.exit(torch.version.cuda is not None)" \
 && rm -rf /tmp/build
# Compiled .pyc files for what the app imports (written by importing it), not for all of
# site-packages (pip's --compile would add 380 MB): a start compiles nothing heavy again.
RUN /opt/venv/bin/python -c "import bertviz, faiss, numpy, pandas, plotly.graph_objects, \
scipy.stats, streamlit.web.bootstrap, torch, transformers; \
from transformers import AutoModelForMaskedLM, AutoTokenizer, RobertaForMaskedLM"

# --- Front-end scripts the bertviz views load (package.json: d3, jQuery, require.js) --------
# `npm ci` with Debian's node, unless the context has them already in npm/node_modules/
# (scripts/build-image.sh runs `npm ci` there with this machine's npm settings).
FROM ${BASE_IMAGE} AS assets
WORKDIR /build
COPY package.json package-lock.json np[m] ./
RUN if [ ! -f node_modules/.package-lock.json ]; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
           ca-certificates \
      && npm ci --no-audit --no-fund --omit=dev; \
    fi

# --- The image ------------------------------------------------------------------------------
FROM python
ARG MODEL_ID=distilroberta-base
ARG DOWNLOAD_MODEL=1

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/user \
    HF_HOME=/home/user/.cache/huggingface \
    TOKENIZERS_PARALLELISM=false \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    STREAMLIT_CLIENT_SHOW_ERROR_DETAILS=none \
    PORT=8501 \
    EXPLORER_MODEL=/models/distilroberta-base \
    EXPLORER_FALLBACK_MODEL=${MODEL_ID} \
    EXPLORER_ALLOWED_MODELS=${MODEL_ID} \
    EXPLORER_PUBLIC=1 \
    EXPLORER_MODEL_ROOT=/models \
    EXPLORER_CACHE_DIR=/app/.explorer_cache \
    EXPLORER_ANALYSIS_CACHE_MB=512

# Hugging Face Spaces run containers as UID 1000; so does this image.
RUN useradd --create-home --uid 1000 user
WORKDIR /app
COPY --from=venv /opt/venv /opt/venv
COPY --from=assets /build/node_modules/ node_modules/

# The model: a folder from the build context (./models/distilroberta-base) when there is one,
# else downloaded now (safetensors only) when DOWNLOAD_MODEL=1 and the build has internet.
# Without either, the app downloads MODEL_ID on first use (if the container has internet).
COPY models/ /models/
COPY scripts/download_model.py scripts/download_model.py
COPY explorer/hub.py explorer/hub.py
RUN if [ "${DOWNLOAD_MODEL}" = "1" ]; then \
      HF_HOME=/tmp/hf python scripts/download_model.py "${MODEL_ID}" /models/distilroberta-base; \
      rm -rf /tmp/hf; \
    fi

# The app itself, folder by folder (a plain `COPY . .` would copy models/ a second time).
# tests/test_deploy.py fails when a new top-level folder of the app is missing here.
COPY --chown=user app.py pyproject.toml requirements.txt package.json ./
COPY --chown=user .streamlit/ .streamlit/
COPY --chown=user explorer/ explorer/
COPY --chown=user ui/ ui/
COPY --chown=user components/ components/
COPY --chown=user pages/ pages/
COPY --chown=user scripts/ scripts/
COPY --chown=user data/ data/
# Compiled once here, so a start (even on a read-only file system) compiles nothing.
# Corpus-search indices are cached on disk in /app/.explorer_cache: the only state a restart keeps.
RUN python -m compileall -q app.py explorer ui components pages \
 && mkdir -p /app/.explorer_cache && chown user /app/.explorer_cache
USER user

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "scripts/healthcheck.py"]
CMD ["sh", "scripts/docker-start.sh"]
