# syntax=docker/dockerfile:1
# Attention explorer: a CPU-only image that serves the Streamlit app on $PORT (default 8501).
#
#   docker build -t attention-explorer .                          # downloads distilroberta-base
#   docker build --build-arg DOWNLOAD_MODEL=0 -t attention-explorer .   # no download at build
#   docker run -p 8501:8501 attention-explorer
#
# A model folder saved with save_pretrained() under ./models/distilroberta-base in the build
# context is copied in and used instead of a download (for builds without internet).
FROM python:3.11-slim

ARG MODEL_ID=distilroberta-base
ARG DOWNLOAD_MODEL=1
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/home/user \
    HF_HOME=/home/user/.cache/huggingface \
    TOKENIZERS_PARALLELISM=false \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    PORT=8501 \
    EXPLORER_MODEL=/models/distilroberta-base \
    EXPLORER_FALLBACK_MODEL=${MODEL_ID} \
    EXPLORER_ALLOWED_MODELS=${MODEL_ID} \
    EXPLORER_PUBLIC=1 \
    EXPLORER_MODEL_ROOT=/models \
    EXPLORER_ANALYSIS_CACHE_MB=512

# Hugging Face Spaces run containers as UID 1000.
RUN useradd --create-home --uid 1000 user
WORKDIR /app

# Python packages; torch comes from PyTorch's CPU index so no CUDA libraries are pulled in.
COPY requirements.txt ./
RUN pip install --extra-index-url "${TORCH_INDEX_URL}" -r requirements.txt

# Front-end scripts for the bertviz views, when the project has a package.json.
COPY requirements.txt package*.json ./
RUN if [ -f package.json ]; then \
      apt-get update && apt-get install -y --no-install-recommends nodejs npm && \
      npm ci --no-audit --no-fund && \
      apt-get purge -y npm && apt-get autoremove -y && rm -rf /var/lib/apt/lists/* /root/.npm; \
    fi

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
COPY --chown=user app.py pyproject.toml ./
COPY --chown=user .streamlit/ .streamlit/
COPY --chown=user explorer/ explorer/
COPY --chown=user ui/ ui/
COPY --chown=user components/ components/
COPY --chown=user pages/ pages/
COPY --chown=user scripts/ scripts/
COPY --chown=user data/ data/
# Corpus-search indices are cached on disk here (EXPLORER_CACHE_DIR moves them).
RUN mkdir -p /app/.explorer_cache && chown user /app/.explorer_cache
USER user

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "scripts/healthcheck.py"]
CMD ["sh", "scripts/docker-start.sh"]
