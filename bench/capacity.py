"""How many visitors does one app process serve? Concurrent simulated visitors against one
``streamlit run app.py`` with the distilroberta-shaped random model.

Starts the app on 127.0.0.1 with the Docker image's public-mode settings (``EXPLORER_PUBLIC=1``,
the model folder under ``EXPLORER_MODEL_ROOT``, ``EXPLORER_ALLOWED_MODELS``, a 512 MiB analysis
cache, ``TOKENIZERS_PARALLELISM=false``; see the Dockerfile) and a distilroberta-shaped model
(6 layers, 768 hidden, 12 heads, 50 265-token LM head, random weights, built in a temp folder).

For every input length (36, 128, 500 tokens) and every number of visitors (1, 4, 16, 32), that
many visitors open the app at once, each as one real Streamlit session over its websocket
(``bench/streamlit_session.py``: the browser's own protobuf protocol, no browser), load the first
page, then each sends ``--texts`` new texts of that length (no two alike, so nothing is served
from the cache), waiting for the page run to finish and "reading" for a think time drawn
uniformly from [0.5, 1.5] × ``--think`` seconds before the next. Per cell it reports:

- time to first prediction table: from sending the text to receiving the first top-k table's
  element (p50, p95, max over every text of every visitor); and to the end of the page run;
- errors: error messages or exceptions in the page, a table that is not the text's, a failed
  run, a lost connection;
- throughput (texts finished per second over the cell);
- server CPU seconds (user + system) per text;
- server RSS: before the cell, peak during it, with the cell's sessions still open, and after
  they closed (how RSS grows with sessions). A server whose RSS passes ``--rss-limit-mib``
  (8 GiB) is killed and the run stops there (the machine is shared).

In the same run (before the server starts) it times the model's analysis alone
(:func:`explorer.analysis.analyze`) at each length: the floor for one visitor.

    python bench/capacity.py                                    # the whole table, ~15 minutes
    python bench/capacity.py --visitors 1 16 --tokens 128        # some cells
    python bench/capacity.py --py-spy /tmp/capacity.txt          # also profile the server
    python bench/capacity.py --tokens 128 --server-env STREAMLIT_RUNNER_POST_SCRIPT_GC=true
    python bench/capacity.py --quick                            # tiny model, seconds (tests)

Numbers vary with the machine's load: the report starts with ``uptime``'s load averages, taken
at the start and the end. Results and their reading: docs/capacity.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

LENGTHS = (36, 128, 500)
VISITORS = (1, 4, 16, 32)
MODEL_NAME = "distilroberta-base"
MIB = 2**20


@dataclass
class Cell:
    """One (visitors, tokens) measurement."""

    visitors: int
    tokens: int
    think_s: float
    table_s: list[float] = field(default_factory=list)  # per text sent
    page_s: list[float] = field(default_factory=list)  # per text: to script_finished
    first_page_s: list[float] = field(default_factory=list)  # per visitor
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0  # the whole cell, first pages included
    texts_started: float = float("inf")  # monotonic time of the first text sent
    texts_ended: float = 0.0  # monotonic time of the last page run finished
    rss_before: int = 0
    rss_peak: int = 0
    rss_open: int = 0  # the cell's sessions still connected
    rss_after: int = 0  # after they closed
    server_cpu_s: float = 0.0  # the server's CPU time (user + system) over the cell

    @property
    def cpu_per_text_s(self) -> float:
        """Server CPU seconds per text sent (first pages included in the numerator)."""
        return self.server_cpu_s / self.texts_done if self.texts_done else float("nan")

    @property
    def texts_done(self) -> int:
        return len(self.page_s)

    @property
    def throughput(self) -> float:
        """Texts finished per second, from the first text sent to the last page finished."""
        span = self.texts_ended - self.texts_started
        return self.texts_done / span if span > 0 else 0.0


def percentile(values: list[float], share: float) -> float:
    """The ``share`` quantile (0..1) by the nearest-rank method; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-share * len(ordered) // 1))))
    return ordered[rank - 1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_averages() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def public_env(model_root: Path, model_dir: Path) -> dict[str, str]:
    """The Docker image's public-mode environment (Dockerfile ``ENV``), for a local folder."""
    return {
        "EXPLORER_MODEL": str(model_dir),
        "EXPLORER_FALLBACK_MODEL": MODEL_NAME,
        "EXPLORER_ALLOWED_MODELS": MODEL_NAME,
        "EXPLORER_PUBLIC": "1",
        "EXPLORER_MODEL_ROOT": str(model_root),
        "EXPLORER_ANALYSIS_CACHE_MB": "512",
        "TOKENIZERS_PARALLELISM": "false",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


class RssSampler:
    """The server's peak RSS, sampled every ``interval_s`` in a thread while in ``with``; a
    server over ``limit`` bytes is killed (the machine is shared: better a failed cell than an
    out-of-memory machine) and ``over_limit`` set."""

    def __init__(self, pid: int, limit: int, interval_s: float = 0.1) -> None:
        self.pid, self.limit, self.interval_s, self.peak = pid, limit, interval_s, 0
        self.over_limit = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        from explorer.memory import rss_bytes

        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except (OSError, RuntimeError):  # the server is gone
                return
            if self.peak > self.limit:
                self.over_limit = True
                os.kill(self.pid, signal.SIGKILL)
                return
            self._stop.wait(self.interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def _visit(url: str, texts: list[str], think_s: float, seed: int, cell: Cell,
                 connected: list, timeout_s: float) -> None:
    """One visitor: open the app, then send ``texts`` one after another."""
    from bench.streamlit_session import Visitor

    rng = random.Random(seed)
    try:
        visitor = await Visitor.connect(url)
        connected.append(visitor)
        first = await visitor.run(timeout_s=timeout_s)
        cell.errors.extend(first.errors)
        if first.finished_s is not None:
            cell.first_page_s.append(first.finished_s)
        for number, text in enumerate(texts):
            if number and think_s:
                await asyncio.sleep(rng.uniform(0.5, 1.5) * think_s)
            cell.texts_started = min(cell.texts_started, time.monotonic())
            run = await visitor.type_text(text, timeout_s=timeout_s)
            cell.texts_ended = max(cell.texts_ended, time.monotonic())
            cell.errors.extend(run.errors)
            if run.table_s is None:
                cell.errors.append("no prediction table")
            else:
                cell.table_s.append(run.table_s)
            if run.finished_s is not None:
                cell.page_s.append(run.finished_s)
    except Exception as error:  # a lost connection or a timeout is an error of the cell
        cell.errors.append(f"{type(error).__name__}: {str(error)[:200]}")


async def _measure_cell(url: str, pid: int, visitors: int, tokens: int,
                        texts: list[list[str]], think_s: float, timeout_s: float,
                        settle_s: float, rss_limit: int) -> Cell:
    from explorer.memory import rss_bytes

    cell = Cell(visitors, tokens, think_s)
    cell.rss_before = rss_bytes(pid)
    cpu_before = cpu_seconds(pid)
    connected: list = []
    with RssSampler(pid, rss_limit) as sampler:
        started = time.monotonic()
        await asyncio.gather(*(
            _visit(url, texts[number], think_s, number, cell, connected, timeout_s)
            for number in range(visitors)))
        cell.wall_s = time.monotonic() - started
        if sampler.over_limit:
            cell.errors.append(f"server killed: RSS over {rss_limit / MIB:.0f} MiB")
            cell.rss_peak = sampler.peak
            return cell
        cell.rss_open = rss_bytes(pid)
        cell.server_cpu_s = cpu_seconds(pid) - cpu_before
        for visitor in connected:
            await visitor.close()
        await asyncio.sleep(settle_s)  # the server drops closed sessions
    cell.rss_peak = max(sampler.peak, cell.rss_open)
    cell.rss_after = rss_bytes(pid)
    return cell


def texts_for(tokenizer, tokens: int, visitors: int, per_visitor: int,
              seed: int) -> list[list[str]]:
    """``per_visitor`` texts of ``tokens`` tokens for each visitor, no two alike."""
    from bench.memory import text_of_tokens

    seen: set[str] = set()
    result = []
    next_seed = seed
    for _ in range(visitors):
        mine = []
        while len(mine) < per_visitor:
            text = text_of_tokens(tokenizer, tokens, next_seed)
            next_seed += 1
            if text not in seen:
                seen.add(text)
                mine.append(text)
        result.append(mine)
    return result


def analysis_times(folder: Path, lengths: tuple[int, ...], repeats: int = 3) -> dict[int, float]:
    """Median seconds of :func:`explorer.analysis.analyze` alone, per length (this process)."""
    from bench.memory import text_of_tokens
    from explorer.analysis import analyze
    from explorer.model import load

    loaded = load(str(folder))
    analyze(loaded, text_of_tokens(loaded.tokenizer, lengths[0], 10_000), top_k=50)  # warm up
    times = {}
    for tokens in lengths:
        samples = []
        for repeat in range(repeats):
            text = text_of_tokens(loaded.tokenizer, tokens, 20_000 + repeat)
            started = time.perf_counter()
            analyze(loaded, text, top_k=50)
            samples.append(time.perf_counter() - started)
        times[tokens] = statistics.median(samples)
    return times


@contextmanager
def py_spy(pid: int, output: Path | None, rate: int = 50) -> Iterator[None]:
    """Record the server with py-spy (collapsed stacks in ``output``) while inside."""
    if output is None:
        yield
        return
    if shutil.which("py-spy") is None:
        raise SystemExit("--py-spy needs py-spy (pip install -r requirements-dev.txt)")
    process = subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
         "--nonblocking", "--output", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        process.send_signal(2)  # SIGINT: py-spy writes its file and exits
        process.wait(timeout=60)


def profile_summary(collapsed: Path, top: int = 30) -> str:
    """The functions with the largest inclusive share of the server's (non-idle) samples."""
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        for frame in set(stack.split(";")[1:]):  # the first frame is the thread
            inclusive[frame] += count
    lines = [f"{total} samples (active threads); inclusive share:"]
    for frame, count in inclusive.most_common(top):
        lines.append(f"{100 * count / max(total, 1):5.1f}%  {frame}")
    return "\n".join(lines)


def run(visitors: tuple[int, ...] = VISITORS, lengths: tuple[int, ...] = LENGTHS,
        texts_per_visitor: int = 3, think_s: float = 3.0, quick: bool = False,
        profile: Path | None = None, timeout_s: float = 600.0,
        repeat_last: int = 0, rss_limit: int = 8192 * MIB, baseline_texts: int = 6,
        server_env: dict[str, str] | None = None,
        ) -> tuple[list[Cell], dict[str, object]]:
    """Measure every (length, visitors) cell against one app server; return the cells and the
    context (load averages, analysis times, RSS at start)."""
    from explorer.memory import rss_bytes
    from explorer.tiny import build_tiny_model
    from tests.browser import app_server

    context: dict[str, object] = {"load_start": load_averages(), "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as temp:
        model_root = Path(temp) / "models"
        folder = model_root / MODEL_NAME
        if quick:
            build_tiny_model(folder, max_tokens=64)
        else:
            from bench.memory import build_model

            build_model(folder)
        context["analysis_s"] = analysis_times(folder, lengths, repeats=1 if quick else 3)
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(folder)
        cells = []
        env = {**public_env(model_root, folder), **(server_env or {})}
        context["server_env"] = server_env or {}
        with app_server(folder, env, timeout_s=180) as server:
            context["rss_started"] = rss_bytes(server.pid)
            for tokens in lengths:  # warm up (not reported): one visitor, one text per length
                asyncio.run(_measure_cell(server.url, server.pid, 1, tokens,
                                          texts_for(tokenizer, tokens, 1, 1, seed=tokens),
                                          0.0, timeout_s, settle_s=0.0, rss_limit=rss_limit))
            context["rss_warm"] = rss_bytes(server.pid)
            plan = [(tokens, count) for tokens in lengths for count in visitors]
            plan += [plan[-1]] * repeat_last
            with py_spy(server.pid, profile):
                for number, (tokens, count) in enumerate(plan):
                    per_visitor = max(texts_per_visitor, baseline_texts) if count == 1 \
                        else texts_per_visitor  # more samples for the one-visitor baseline
                    texts = texts_for(tokenizer, tokens, count, per_visitor,
                                      seed=100_000 * (number + 1))
                    cell = asyncio.run(_measure_cell(
                        server.url, server.pid, count, tokens, texts, think_s, timeout_s,
                        settle_s=0.5 if quick else 3.0, rss_limit=rss_limit))
                    cells.append(cell)
                    print(row(cell, cells), flush=True)
                    if any(error.startswith("server killed") for error in cell.errors):
                        break
    context["load_end"] = load_averages()
    return cells, context


HEADER = ("| tokens | visitors | texts | errors | table p50 | table p95 | table max | page p95 | "
          "p95 / 1 visitor | texts/s | server CPU / text | RSS before | RSS peak | "
          "RSS, sessions open | RSS after close |\n"
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def row(cell: Cell, cells: list[Cell]) -> str:
    single = next((c for c in cells if c.tokens == cell.tokens and c.visitors == 1), None)
    p95 = percentile(cell.table_s, 0.95)
    ratio = (f"{p95 / percentile(single.table_s, 0.95):.1f}×"
             if single is not None and single.table_s and cell.table_s else "—")
    return (f"| {cell.tokens} | {cell.visitors} | {len(cell.table_s)} | {len(cell.errors)} | "
            f"{percentile(cell.table_s, 0.5):.2f} s | {p95:.2f} s | "
            f"{max(cell.table_s, default=float('nan')):.2f} s | "
            f"{percentile(cell.page_s, 0.95):.2f} s | {ratio} | {cell.throughput:.2f} | "
            f"{cell.cpu_per_text_s:.2f} s | "
            f"{cell.rss_before / MIB:.0f} MiB | {cell.rss_peak / MIB:.0f} MiB | "
            f"{cell.rss_open / MIB:.0f} MiB | {cell.rss_after / MIB:.0f} MiB |")


def report(cells: list[Cell], context: dict[str, object]) -> str:
    analysis = context.get("analysis_s", {})
    lines = [
        f"load averages at start {context['load_start']}, at end {context.get('load_end')}; "
        f"{context['cores']} cores; server RSS at start {context['rss_started'] / MIB:.0f} MiB, "
        f"after a warm-up (one text per length) {context['rss_warm'] / MIB:.0f} MiB; "
        f"extra server environment: {context.get('server_env') or 'none'}",
        "analysis alone (this process, median): " + ", ".join(
            f"{tokens} tokens {seconds:.2f} s" for tokens, seconds in analysis.items()),
        f"think time between texts: uniform [0.5, 1.5] × {cells[0].think_s:g} s" if cells else "",
        "", HEADER, *(row(cell, cells[: index + 1]) for index, cell in enumerate(cells))]
    errors = Counter(error for cell in cells for error in cell.errors)
    if errors:
        lines += ["", "errors:", *(f"  {count} × {error}" for error, count in errors.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, nargs="+", default=list(VISITORS))
    parser.add_argument("--tokens", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--texts", type=int, default=3, help="new texts per visitor")
    parser.add_argument("--baseline-texts", type=int, default=6,
                        help="texts sent by the one visitor of a one-visitor cell")
    parser.add_argument("--think", type=float, default=3.0,
                        help="mean seconds a visitor reads before the next text")
    parser.add_argument("--repeat-last", type=int, default=0,
                        help="run the last cell this many more times (does memory level off?)")
    parser.add_argument("--py-spy", type=Path, default=None, dest="profile",
                        help="record the server with py-spy into this file (collapsed stacks)")
    parser.add_argument("--rss-limit-mib", type=int, default=8192,
                        help="kill the server (and stop) when its RSS passes this")
    parser.add_argument("--server-env", nargs="*", default=[], metavar="NAME=VALUE",
                        help="more environment for the server, e.g. "
                             "STREAMLIT_RUNNER_POST_SCRIPT_GC=false")
    parser.add_argument("--quick", action="store_true",
                        help="tiny model, 1 and 2 visitors, 24 tokens, one text: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.visitors, args.tokens, args.texts, args.think = [1, 2], [24], 1, 0.0
        args.baseline_texts = 1
    cells, context = run(tuple(args.visitors), tuple(args.tokens), args.texts, args.think,
                         args.quick, args.profile, repeat_last=args.repeat_last,
                         rss_limit=args.rss_limit_mib * MIB,
                         baseline_texts=args.baseline_texts,
                         server_env=dict(item.split("=", 1) for item in args.server_env))
    print()
    print(report(cells, context))
    if args.profile is not None and args.profile.exists():
        print()
        print(profile_summary(args.profile))
    return 1 if any(cell.errors for cell in cells) else 0


if __name__ == "__main__":
    sys.exit(main())
