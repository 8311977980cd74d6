"""Save a hub model as a local folder of safetensors weights (the Dockerfile runs this).

    python scripts/download_model.py distilroberta-base /models/distilroberta-base [--strict]

Skips the download when the folder already holds a model (copied from the build context). When
the hub cannot be reached it says so and exits 0, so an offline build still succeeds and the app
downloads the model on first use instead; ``--strict`` makes that an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def download(model_id: str, folder: Path) -> bool:
    """Save ``model_id``'s tokenizer and masked LM (safetensors only) into ``folder``."""
    if (folder / "config.json").is_file():
        print(f"Using the model folder already at {folder}.")
        return True
    try:
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(model_id, trust_remote_code=False)
        model = AutoModelForMaskedLM.from_pretrained(
            model_id, trust_remote_code=False, use_safetensors=True
        )
    except Exception as error:  # no internet, unknown id, no safetensors weights ...
        print(f"Could not download {model_id}: {type(error).__name__}: {error}".splitlines()[0],
              file=sys.stderr)
        return False
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder, safe_serialization=True)
    print(f"Saved {model_id} to {folder}.")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_id")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--strict", action="store_true", help="fail when the download fails")
    args = parser.parse_args(argv)
    if download(args.model_id, args.folder):
        return 0
    print("The image will download the model on first use instead.", file=sys.stderr)
    return 1 if args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
