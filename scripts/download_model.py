"""Download a hub model (safetensors weights, configs and tokenizer files only).

    python scripts/download_model.py distilroberta-base                 # into the hub cache
    python scripts/download_model.py distilroberta-base models/distilroberta-base   # a folder

Into the Hugging Face cache (``$HF_HOME``), with a progress bar, when no folder is given: the app
then finds the model at once. With a folder, the model is saved there (the Dockerfile does this;
the folder is skipped when it already holds a model). The hub is probed first with a short
timeout; when it cannot be reached the script says so in one line and exits 0, so an offline
set-up or build still succeeds; ``--strict`` makes that an error.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _hub_module():
    """explorer/hub.py loaded by path (stdlib only: works before the app's packages are in)."""
    spec = importlib.util.spec_from_file_location("explorer_hub", ROOT / "explorer" / "hub.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["explorer_hub"] = module
    spec.loader.exec_module(module)
    return module


def download(model_id: str, folder: Path | None) -> bool:
    """Fetch ``model_id``'s files (no .bin/.h5/.onnx) into the cache or save them in ``folder``."""
    if folder is not None and (folder / "config.json").is_file():
        print(f"Using the model folder already at {folder}.")
        return True
    hub = _hub_module()
    if Path(model_id).is_dir():  # a folder from another machine: copy its model files
        return _copy_model_files(Path(model_id), folder, hub.MODEL_FILE_PATTERNS)
    status = hub.hub_status()
    if not status.reachable:
        print(f"Skipped downloading {model_id}: {status.reason}; the app offers the models "
              "already on this machine.")
        return False
    try:
        snapshot = hub.download_snapshot(model_id)
        gc.collect()  # huggingface_hub's byte bars sit in a reference cycle: close them now,
        # so that they are drawn complete before the lines below, not over them at exit
    except Exception as error:  # unknown id, no safetensors weights, network dropped ...
        print(f"Could not download {model_id}: {type(error).__name__}: {error}".splitlines()[0],
              file=sys.stderr)
        return False
    if not any(Path(snapshot).glob("*.safetensors")):
        print(f"{model_id} has no safetensors weights; the app loads safetensors only.",
              file=sys.stderr)
        return False
    if folder is None:
        print(f"Downloaded {model_id} into the Hugging Face cache.")
        return True
    folder.mkdir(parents=True, exist_ok=True)
    for file in Path(snapshot).iterdir():
        if file.is_file():
            shutil.copyfile(file, folder / file.name)  # follows the cache's symlinks
    print(f"Saved {model_id} to {folder}.")
    return True


def _copy_model_files(source: Path, folder: Path | None, patterns: tuple[str, ...]) -> bool:
    if folder is None:
        print(f"{source} is a folder already: give the app its path (or copy it into models/).")
        return True
    if not any(source.glob("*.safetensors")):
        print(f"{source} has no safetensors weights; the app loads safetensors only.",
              file=sys.stderr)
        return False
    folder.mkdir(parents=True, exist_ok=True)
    for file in source.iterdir():
        if file.is_file() and any(file.match(p) for p in patterns):
            shutil.copyfile(file, folder / file.name)
    print(f"Saved {source} to {folder}.")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_id")
    parser.add_argument("folder", type=Path, nargs="?", default=None,
                        help="save the model here instead of the hub cache")
    parser.add_argument("--strict", action="store_true", help="fail when the download fails")
    args = parser.parse_args(argv)
    if download(args.model_id, args.folder):
        return 0
    return 1 if args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
