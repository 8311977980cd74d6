"""Deployment files, checked without a Docker engine: the Dockerfile's instructions, the start
script and health check run for real against a local app, the build-time model download."""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from explorer.local_models import folder_models
from explorer.model import load
from tests.browser import TABLE, app_server, chromium_page
from tests.conftest import ROOT

# models/ is copied to /models; deploy/ holds the HAProxy and Kubernetes files that run the
# image, not part of it
NOT_IN_IMAGE = {"tests", "bench", "docs", ".ci", "models", "deploy"}


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    return DockerfileParser(str(ROOT / "Dockerfile"))


def instructions(parser: DockerfileParser, name: str) -> list[str]:
    return [i["value"] for i in parser.structure if i["instruction"] == name]


def test_image_is_debian_bookworm_slim_with_debians_python_311_and_cpu_torch(dockerfile):
    assert dockerfile.parent_images == ["debian:bookworm-slim", "python",
                                        "debian:bookworm-slim", "python"]
    froms = instructions(dockerfile, "FROM")
    assert froms[0] == "${BASE_IMAGE} AS python" and froms[-1] == "python"  # final = python
    assert "ARG BASE_IMAGE=debian:bookworm-slim" in dockerfile.content.splitlines()
    (apt_python,) = [r for r in instructions(dockerfile, "RUN") if "python3.11 ca-certificates"
                     in r]
    assert "--no-install-recommends" in apt_python
    installs = [r for r in instructions(dockerfile, "RUN") if "pip install" in r]
    assert len(installs) == 1
    install = installs[0]
    assert install.count("-r /tmp/build/requirements.txt") == 2
    assert '--extra-index-url "${TORCH_INDEX_URL}"' in install  # online: PyPI + CPU index
    assert "--no-index --find-links /tmp/build" in install  # offline: the wheelhouse
    assert "sys.exit(torch.version.cuda is not None)" in install  # a CUDA torch fails the build
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in dockerfile.content
    assert "requirements.txt wheel[s] /tmp/build/" in instructions(dockerfile, "COPY")
    assert dockerfile.envs["PATH"].startswith("/opt/venv/bin:")
    assert "--from=venv /opt/venv /opt/venv" in instructions(dockerfile, "COPY")
    requirements = (ROOT / "requirements.txt").read_text()
    assert "torch==2.13.0" in requirements


def test_serves_on_port_env_default_8501_on_all_interfaces(dockerfile):
    assert dockerfile.envs["PORT"] == "8501"
    assert instructions(dockerfile, "EXPOSE") == ["8501"]
    cmd = json.loads(instructions(dockerfile, "CMD")[-1])
    assert cmd == ["sh", "scripts/docker-start.sh"]
    script = (ROOT / "scripts/docker-start.sh").read_text()
    assert '--server.port "${PORT:-8501}"' in script
    assert '--server.address "${HOST:-0.0.0.0}"' in script
    assert "exec python -m streamlit run app.py" in script


def test_healthcheck_asks_streamlits_health_endpoint(dockerfile):
    (healthcheck,) = instructions(dockerfile, "HEALTHCHECK")
    assert healthcheck.split("CMD", 1)[1].strip() == '["python", "scripts/healthcheck.py"]'
    assert "/_stcore/health" in (ROOT / "scripts/healthcheck.py").read_text()


def test_model_is_downloaded_at_build_or_copied_from_the_context(dockerfile):
    copies = instructions(dockerfile, "COPY")
    assert "models/ /models/" in copies
    assert (ROOT / "models/README.md").is_file()  # so COPY models/ never fails
    assert dockerfile.args["MODEL_ID"] == "distilroberta-base"
    assert dockerfile.args["DOWNLOAD_MODEL"] == "1"
    (download,) = [r for r in instructions(dockerfile, "RUN") if "download_model.py" in r]
    assert '"${MODEL_ID}" /models/distilroberta-base' in download
    assert dockerfile.envs["EXPLORER_MODEL"] == "/models/distilroberta-base"
    assert dockerfile.envs["EXPLORER_ALLOWED_MODELS"] == "distilroberta-base"


def test_every_folder_of_the_app_is_copied_into_the_image(dockerfile):
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    top_level = {path.split("/")[0] for path in tracked if "/" in path} - NOT_IN_IMAGE
    copied = set()
    for value in instructions(dockerfile, "COPY"):
        if "--from=" in value:  # from another stage, not from the build context
            continue
        parts = [p for p in shlex.split(value) if not p.startswith("--")]
        copied |= {p.rstrip("/") for p in parts[:-1]}
    missing = sorted(top_level - copied)
    assert not missing, f"add COPY lines for {missing} to the Dockerfile"
    assert "app.py" in copied
    for source in copied:
        if not set(source) & set("*?["):  # a pattern may match nothing (wheel[s])
            assert (ROOT / source).exists(), source


def test_dockerignore_keeps_the_app_and_models_in_the_context():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for needed in ("app.py", "explorer", "ui", "pages", "components", "scripts", "models",
                   "requirements.txt", ".streamlit"):
        assert not any(fnmatch.fnmatch(needed, p) for p in patterns), needed
    assert ".git" in patterns and "tests" in patterns


def test_start_script_and_healthcheck_against_a_local_app(tiny_model_dir, tmp_path):
    """What the container runs: the start script (with the fallback from a missing baked-in
    folder to $EXPLORER_FALLBACK_MODEL) and the health check, on loopback."""
    env = {
        "EXPLORER_MODEL": str(tmp_path / "models" / "distilroberta-base"),  # build put none
        "EXPLORER_FALLBACK_MODEL": str(tiny_model_dir),
        "EXPLORER_ALLOWED_MODELS": "distilroberta-base",
    }
    with app_server(tiny_model_dir, env, command=["sh", "scripts/docker-start.sh"]) as server:
        with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=5) as response:
            assert response.status == 200
            assert response.read().decode().strip() == "ok"
        check_env = {**os.environ, "PORT": str(server.port)}
        check = subprocess.run([sys.executable, "scripts/healthcheck.py"], cwd=ROOT,
                               env=check_env, timeout=30)
        assert check.returncode == 0
        with chromium_page() as page:
            page.goto(server.url)
            page.locator(TABLE).first.wait_for(state="attached", timeout=60_000)
            sidebar = page.locator("[data-testid='stSidebar']")
            assert "2 layers × 4 heads" in sidebar.inner_text()  # the fallback tiny model
            assert sidebar.locator("[data-testid='stSelectbox']").count() == 1  # allow-list
        assert "No model folder at" in server.log_path.read_text()
    check = subprocess.run([sys.executable, "scripts/healthcheck.py"], cwd=ROOT,
                           env=check_env, timeout=30)
    assert check.returncode == 1  # the app is gone: unhealthy


def _download(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "scripts/download_model.py", *args], cwd=ROOT,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=300)


def test_build_time_download_falls_back_when_offline(tmp_path):
    offline = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    folder = tmp_path / "models" / "distilroberta-base"
    result = _download("distilroberta-base", str(folder), env=offline)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Skipped downloading distilroberta-base: HF_HUB_OFFLINE")
    assert len(result.stdout.strip().splitlines()) == 1
    assert not folder.exists()
    assert _download("distilroberta-base", str(folder), "--strict", env=offline).returncode == 1


def test_build_time_download_saves_a_loadable_safetensors_folder(tiny_model_dir, tmp_path):
    folder = tmp_path / "baked"
    result = _download(str(tiny_model_dir), str(folder))  # a folder stands in for the hub here
    assert result.returncode == 0, result.stderr
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*.bin"))
    assert load(str(folder)).info.num_layers == 2
    again = _download("distilroberta-base", str(folder), env={"HF_HUB_OFFLINE": "1"})
    assert again.returncode == 0 and "already at" in again.stdout


def test_build_script_makes_the_context_and_bakes_a_model_folder_in(tiny_model_dir, tmp_path):
    """scripts/build-image.sh with a stand-in engine that records what it is asked: the build
    context it assembles (project files, the model folder, no git or node_modules) and the
    build arguments (the base image, no download when a model is baked in)."""
    log, listing = tmp_path / "engine.log", tmp_path / "context.txt"
    engine = tmp_path / "engine"
    engine.write_text(f"""#!/bin/sh
echo "$*" >> {log}
case "$1" in
  build) for last; do :; done; (cd "$last" && find . | sort) > {listing} ;;
  image) echo 123456789 ;;
esac
""")
    engine.chmod(0o755)
    result = subprocess.run(
        ["bash", "scripts/build-image.sh", "-t", "explorer:try", "--model", str(tiny_model_dir),
         "--no-prefetch"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "CONTAINER_ENGINE": str(engine),
             "EXPLORER_IMAGE_WORKDIR": str(tmp_path / "work")})
    assert result.returncode == 0, result.stderr
    assert "built explorer:try: 123 MB" in result.stderr
    (build,) = [line for line in log.read_text().splitlines() if line.startswith("build ")]
    assert "--build-arg BASE_IMAGE=debian:bookworm-slim --build-arg DOWNLOAD_MODEL=0" in build
    assert build.endswith(f"-t explorer:try -f {tmp_path}/work/context/Dockerfile "
                          f"{tmp_path}/work/context")
    files = set(listing.read_text().split())
    for needed in ("./app.py", "./Dockerfile", "./requirements.txt", "./explorer/model.py",
                   "./models/distilroberta-base/config.json",
                   "./models/distilroberta-base/model.safetensors"):
        assert needed in files, needed
    assert not any(f.startswith(("./.git/", "./node_modules", "./wheels")) for f in files)


def test_a_model_folder_the_server_cannot_read_is_left_out_of_the_list(
        tiny_model_dir, tmp_path, monkeypatch):
    """The start page lists the folders under $EXPLORER_MODEL_ROOT; one the app's user may not
    read (a volume mounted with the wrong owner) is skipped, not a traceback on every page
    (seen for real in tests/test_container.py, where the app is not root)."""
    root = tmp_path / "root"
    shutil.copytree(tiny_model_dir, root / "readable")
    shutil.copytree(tiny_model_dir, root / "locked")
    is_file = Path.is_file

    def denied(path: Path) -> bool:  # what stat() does as UID 1000 in a root-only folder
        if path.parent.name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return is_file(path)

    monkeypatch.setattr(Path, "is_file", denied)
    assert [Path(m.name).name for m in folder_models(root, "model root")] == ["readable"]
