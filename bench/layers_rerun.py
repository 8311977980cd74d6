"""How long does a run of the "Layers & heads" page take, every tab computed vs. the open tab only?

Issue 21 item 7: the page drew its five tabs on every run (``st.tabs(on_change="rerun")`` without
reading ``.open``), so a new text also ran flow's max-flows, the ablation pass, the hidden-state
PCA and the value norms while the user looked at the logit lens. Now only the open tab runs.

In the same run, interleaved, on a distilroberta-shaped random model (6 layers, hidden 768, 12
heads, 50 265-token LM head; built in a temp folder) and the page under Streamlit's AppTest (the
page's own script, no browser), for each input length:

- **eager** (before): a copy of ``pages/layers.py`` whose ``if tab.open:`` guards are
  ``if True:`` (every tab runs, as before), served from a temp copy of the app;
- **lazy** (now): the page itself, its first tab (per-layer predictions) open;

and for each: a **new text** (cache empty for it: analysis and the tabs' work) and a **widget
rerun** (top-k of the lens changed: every cached result drawn again). Medians of ``--repeats``.

    python bench/layers_rerun.py                  # 36 and 128 tokens, 3 repeats, ~3 minutes
    python bench/layers_rerun.py --tokens 36 --repeats 1 --small    # the smoke test's size
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.memory import build_model, text_of_tokens  # noqa: E402

GUARDS = ("lens_tab", "hidden_tab", "attention_tab", "ablation_tab", "attribution_tab")


def eager_app(folder: Path) -> Path:
    """A copy of the app whose Layers page runs every tab (the page before the fix): links to
    everything else, a rewritten ``pages/layers.py``."""
    for entry in ROOT.iterdir():
        if entry.name not in ("pages", ".git"):
            (folder / entry.name).symlink_to(entry)
    (folder / "pages").mkdir()
    for page in (ROOT / "pages").iterdir():
        if page.name != "layers.py":
            (folder / "pages" / page.name).symlink_to(page)
    source = (ROOT / "pages" / "layers.py").read_text(encoding="utf-8")
    for guard in GUARDS:
        if f"if {guard}.open:" not in source:
            raise RuntimeError(f"pages/layers.py has no 'if {guard}.open:' guard to undo")
        source = source.replace(f"if {guard}.open:", "if True:")
    (folder / "pages" / "layers.py").write_text(source, encoding="utf-8")
    return folder / "app.py"


def _page(app: Path):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(app), default_timeout=600)
    at.run()
    at.switch_page("pages/layers.py")
    at.run()
    if at.exception:
        raise RuntimeError(at.exception)
    return at


def _timed(at) -> float:
    start = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(at.exception)
    return seconds


def run(tokens: tuple[int, ...] = (36, 128), repeats: int = 3, small: bool = False
        ) -> dict[tuple[str, str, int], float]:
    """``{(variant, what, tokens): median seconds}`` for variant eager/lazy, what
    new_text/widget."""
    from explorer.model import MODEL_ENV_VAR, load
    from ui import keys

    times: dict[tuple[str, str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as temp:
        shape = dict(layers=2, hidden=32, heads=4, vocab=400) if small else {}
        model = build_model(Path(temp) / "model", max_tokens=512, **shape)
        os.environ[MODEL_ENV_VAR] = str(model)
        tokenizer = load(str(model)).tokenizer
        eager = eager_app(Path(tempfile.mkdtemp(dir=temp)))
        pages = {"eager": _page(eager), "lazy": _page(ROOT / "app.py")}
        seed = 100
        for length in tokens:
            for _ in range(repeats):
                for variant, at in pages.items():  # interleaved: the same load for both
                    seed += 1
                    at.text_area(key=keys.TEXT).set_value(text_of_tokens(tokenizer, length,
                                                                         seed))
                    times.setdefault((variant, "new_text", length), []).append(_timed(at))
                    top_k = at.number_input(key="layers_lens_top_k")
                    top_k.set_value(6 if top_k.value != 6 else 7)
                    times.setdefault((variant, "widget", length), []).append(_timed(at))
    return {key: statistics.median(values) for key, values in times.items()}


def report(figures: dict[tuple[str, str, int], float]) -> str:
    lines = [f"{'tokens':>6} {'run':>9} {'every tab':>10} {'open tab':>9} {'ratio':>6}"]
    for length in sorted({key[2] for key in figures}):
        for what in ("new_text", "widget"):
            eager, lazy = figures[("eager", what, length)], figures[("lazy", what, length)]
            lines.append(f"{length:>6} {what.replace('_', ' '):>9} {eager * 1000:>8.0f}ms "
                         f"{lazy * 1000:>7.0f}ms {eager / lazy:>5.1f}x")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[36, 128])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="a 2-layer toy model (smoke test)")
    arguments = parser.parse_args()
    print(report(run(tuple(arguments.tokens), arguments.repeats, arguments.small)))


if __name__ == "__main__":
    main()
