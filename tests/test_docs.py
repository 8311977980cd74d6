"""The README and docs/*.md: every relative link (and #anchor) leads to a file and a heading that
exist, the README's two set-up commands are the ones CI runs and name scripts that exist, and
no page script draws a stray string (Streamlit's "magic" shows a bare string literal)."""

from __future__ import annotations

import ast
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
APP_COMMAND = "bash scripts/setup-app.sh && streamlit run app.py"
TEST_COMMAND = "bash scripts/setup-test.sh && python -m pytest"


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, markup and punctuation dropped (letters,
    digits, spaces, '-' and '_' kept), each space a '-'."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*_]{2}|(?<!\w)_|_(?!\w)", "", text).strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor, numbered as GitHub numbers repeated ones (-1, -2, …)."""
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE):
        slug = github_slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(page: Path) -> list[str]:
    text = CODE_SPAN.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))
    return [target for target in LINK.findall(text)
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]  # http:, https:, mailto: …


def test_the_slug_rule_matches_githubs_on_known_headings():
    assert github_slug("Layers & heads page") == "layers--heads-page"
    assert github_slug("Start-up times") == "start-up-times"
    assert github_slug("Attribution, two models, words (core, `explorer/`)") == \
        "attribution-two-models-words-core-explorer"
    assert github_slug("The attention view's file") == "the-attention-views-file"


def test_the_checker_finds_a_broken_link_and_anchor(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](#nothing) [file](missing.md) "
                    "`[not a link](x.md)`\n\n```\n[in code](y.md)\n```\n", encoding="utf-8")
    assert relative_links(page) == ["#title", "#nothing", "missing.md"]
    assert anchors(page) == {"title"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading(page: Path):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no file {destination}")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    assert not broken, "\n".join(broken)


def test_the_readme_gives_the_two_commands_ci_runs():
    readme = ROOT / "README.md"
    blocks = re.findall(r"^```bash\n(.*?)^```", readme.read_text(encoding="utf-8"),
                        re.MULTILINE | re.DOTALL)
    commands = [line.strip() for block in blocks for line in block.splitlines()]
    assert APP_COMMAND in commands and TEST_COMMAND in commands
    for script in re.findall(r"bash (scripts/\S+)", APP_COMMAND + " " + TEST_COMMAND):
        assert (ROOT / script).is_file(), script
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "bash scripts/setup-test.sh" in ci and "python -m pytest" in ci
    assert (ROOT / "app.py").is_file()


@pytest.mark.parametrize("script", [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))],
                         ids=lambda p: p.name)
def test_no_page_script_holds_a_stray_string_that_magic_would_draw(script: Path):
    """Streamlit's magic writes every bare expression of a page script to the page, so a
    "docstring" under a constant showed up as text at the top of the Models page."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    body = tree.body[1:] if ast.get_docstring(tree) is not None else tree.body
    stray = [node.lineno for node in body
             if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)]
    assert not stray, f"{script.name}: bare literals at lines {stray}"
