"""The library: `explorer` installs as a package, its API module lists what it exports, and the
"Use it from Python" code block of docs/library.md runs as written (on the tiny model)."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from explorer.model import MODEL_ENV_VAR

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "library.md"


def python_block(markdown: str, heading: str) -> str:
    """The first ```python block after ``heading``."""
    section = markdown.split(heading, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert match, f"no python block under {heading!r}"
    return match.group(1)


def test_the_documented_python_block_runs(tiny_model_dir, tmp_path, monkeypatch, capsys):
    code = python_block(DOC.read_text(encoding="utf-8"), "## Use it from Python")
    monkeypatch.setenv(MODEL_ENV_VAR, str(tiny_model_dir))
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    printed = capsys.readouterr().out
    analysis = namespace["analysis"]
    assert namespace["layers"] == analysis.num_layers == 2
    np.testing.assert_allclose(analysis.attentions.sum(axis=-1), 1.0, atol=1e-5)
    assert printed.count("\n") >= 5 + 1 + 1 + 3  # top-5, attribution, a table row, 3 matches
    matches = namespace["search"](namespace["index"], namespace["query"], token=2, layer=2, k=3)
    assert len(matches) == 3 and (tmp_path / "my-index" / "meta.json").is_file()
    # the best match of a corpus sentence's own token is that token (cosine 1)
    assert matches[0].sentence == "The cat sat on the mat." and matches[0].position == 2
    assert matches[0].score == pytest.approx(1.0, abs=1e-3)


def test_api_module_exports_what_it_lists_with_docstrings():
    api = importlib.import_module("explorer.api")
    for name in api.__all__:
        value = getattr(api, name)
        if callable(value):
            assert (value.__doc__ or "").strip(), f"{name} has no docstring"
    documented = set(re.findall(r":(?:func|class):`(\w+)`", api.__doc__))
    assert documented <= set(api.__all__), documented - set(api.__all__)
    for needed in ("load", "analyze", "logit_lens", "attribute", "head_patterns",
                   "build_corpus_index", "open_index", "search", "compare_over_sentences"):
        assert needed in api.__all__


def test_importing_explorer_does_not_import_the_api_or_ray():
    code = ("import sys, explorer; print('explorer.api' in sys.modules, 'ray' in sys.modules, "
            "'faiss' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["False", "False", "False"]


def test_pyproject_makes_an_installable_package_with_the_console_script():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    assert project["project"]["scripts"]["explorer"] == "explorer.cli:main"
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == [
        "explorer", "explorer.*"]
    module, function = project["project"]["scripts"]["explorer"].split(":")
    assert callable(getattr(importlib.import_module(module), function))
    # every subpackage is a real package, so find_packages sees it
    for folder in (ROOT / "explorer").rglob("*"):
        if folder.is_dir() and folder.name != "__pycache__" and any(folder.glob("*.py")):
            assert (folder / "__init__.py").is_file(), folder


def test_python_dash_m_explorer_shows_the_commands():
    result = subprocess.run([sys.executable, "-m", "explorer", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for command in ("analyze", "head-stats", "index"):
        assert command in result.stdout
    tree = ast.parse((ROOT / "explorer" / "__main__.py").read_text(encoding="utf-8"))
    assert any(isinstance(node, ast.ImportFrom) and node.module == "explorer.cli"
               for node in ast.walk(tree))
