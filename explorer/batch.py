"""Batch jobs over a large corpus: resumable shards, on one machine or on a Ray cluster.

A job cuts the corpus's lines into shards of ``shard_lines`` consecutive lines. Each shard's
result is written into a work folder under a temporary name and renamed when complete, and the
work folder's ``manifest.json`` names the job (model fingerprint, corpus digest, settings): a
job started again with the same inputs skips the shards already there; one with other inputs
starts over. Only the final step writes the output, again to a temporary name renamed at the
end, so a killed job never leaves a half-written result that would be opened.

Shards run as plain batches in this process by default; with ``ray_address`` (``"local"`` for
a local Ray instance, or a cluster's address) they run as a Ray Data ``map_batches`` job whose
actors each load the model once. Both paths call the same per-shard function, so their results
are identical.

Head statistics (:func:`batch_head_patterns`) are a map-reduce: each shard sums its sentences'
statistics (:func:`pattern_sums`), the sums are added up and divided once
(:func:`patterns_from_sums`) — the same averages as :func:`explorer.head_patterns.head_patterns`.
Ray is imported only when asked for.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.model import Loaded

ShardFunction = Callable[[Loaded, int, Sequence[str], Path], None]
"""``run(loaded, first_line, lines, folder)`` writes one shard's result into ``folder``."""
Progress = Callable[[int, int], None]
"""``progress(shards_done, shards_total)``."""


@dataclass(frozen=True)
class ShardPlan:
    """How a job is cut: ``shards[i] = (first_line, end_line)``."""

    shards: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, lines: int, shard_lines: int) -> ShardPlan:
        if shard_lines < 1:
            raise ValueError("shard_lines must be at least 1")
        return cls(tuple((start, min(lines, start + shard_lines))
                         for start in range(0, lines, shard_lines)))


def write_atomically(path: Path, data: bytes | str) -> None:
    """Write a file under a temporary name beside ``path`` and rename it (atomic on POSIX)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def job_key(parts: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:32]


class WorkFolder:
    """A job's shard results and manifest (see the module docstring)."""

    def __init__(self, folder: Path, key: str, shards: int) -> None:
        self.folder = folder
        self.key = key
        self.shards = shards
        manifest = self._manifest()
        if manifest is None or manifest.get("key") != key or manifest.get("shards") != shards:
            shutil.rmtree(folder, ignore_errors=True)  # another job's leftovers
            folder.mkdir(parents=True, exist_ok=True)
            self._write_manifest()

    def _manifest(self) -> dict[str, object] | None:
        try:
            return json.loads((self.folder / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def _write_manifest(self) -> None:
        done = sorted(self.done())
        write_atomically(self.folder / "manifest.json", json.dumps(
            {"key": self.key, "shards": self.shards, "done": done}))

    def shard_folder(self, shard: int) -> Path:
        return self.folder / f"shard_{shard:06d}"

    def done(self) -> set[int]:
        """Shards whose folder is complete (renamed into place)."""
        return {shard for shard in range(self.shards) if self.shard_folder(shard).is_dir()}

    def run_shard(self, shard: int, write: Callable[[Path], None]) -> None:
        """``write(temporary)`` fills a temporary folder, renamed to the shard's when done."""
        target = self.shard_folder(shard)
        temporary = Path(tempfile.mkdtemp(prefix=target.name + ".", suffix=".tmp",
                                          dir=self.folder))
        try:
            write(temporary)
            os.replace(temporary, target)
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise

    def mark_done(self) -> None:
        self._write_manifest()

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def run_shards(
    loaded: Loaded,
    lines: Sequence[str],
    work: WorkFolder,
    plan: ShardPlan,
    run: ShardFunction,
    *,
    progress: Progress | None = None,
    ray_address: str | None = None,
    model_name: str | None = None,
) -> int:
    """Run ``run`` on every shard not done yet; return how many shards were skipped (done by an
    earlier, stopped run). With ``ray_address``, ``model_name`` (what :func:`explorer.load`
    takes) is loaded once per Ray actor."""
    done = work.done()
    todo = [shard for shard in range(len(plan.shards)) if shard not in done]
    if progress:
        progress(len(done), len(plan.shards))
    if ray_address is not None and todo:
        _run_on_ray(lines, work, plan, run, todo, ray_address, model_name or loaded.info.name,
                    progress, len(done))
        return len(done)
    for count, shard in enumerate(todo, start=1):
        start, end = plan.shards[shard]
        work.run_shard(shard, lambda folder, s=start, e=end: run(loaded, s, lines[s:e], folder))
        work.mark_done()
        if progress:
            progress(len(done) + count, len(plan.shards))
    return len(done)


def _run_on_ray(lines: Sequence[str], work: WorkFolder, plan: ShardPlan, run: ShardFunction,
                todo: list[int], address: str, model_name: str,
                progress: Progress | None, already: int) -> None:
    """The shards as a Ray Data ``map_batches`` job: one row per shard, actors that load the
    model once; each writes its shard folder (a file system the workers share)."""
    import ray  # lazy: the app and the default path never pay for it

    started_here = not ray.is_initialized()
    if started_here:
        if address == "local":
            root = str(Path(__file__).resolve().parent.parent)  # workers import explorer
            ray.init(num_cpus=max(1, min(2, os.cpu_count() or 1)), include_dashboard=False,
                     log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": root}})
        else:
            ray.init(address=address, log_to_driver=False)
    try:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        rows = [{"shard": shard, "start": plan.shards[shard][0], "end": plan.shards[shard][1],
                 "lines": json.dumps(list(lines[plan.shards[shard][0]:plan.shards[shard][1]]))}
                for shard in todo]
        dataset = ray.data.from_items(rows)
        results = dataset.map_batches(
            _ShardActor, fn_constructor_kwargs={"model_name": model_name, "run": run,
                                                "work_folder": str(work.folder),
                                                "key": work.key, "shards": work.shards},
            batch_size=1, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=max(1, min(len(todo), workers))))
        for finished, _row in enumerate(results.iter_rows(), start=1):
            if progress:
                progress(already + finished, len(plan.shards))
        work.mark_done()
    finally:
        if started_here:
            ray.shutdown()


class _ShardActor:
    """A Ray actor: the model loaded once, then one shard per call."""

    def __init__(self, model_name: str, run: ShardFunction, work_folder: str, key: str,
                 shards: int) -> None:
        from explorer.model import load

        self.loaded = load(model_name)
        self.run = run
        self.work = WorkFolder.__new__(WorkFolder)  # the driver made it; do not reset it
        self.work.folder, self.work.key, self.work.shards = Path(work_folder), key, shards

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for shard, start, text in zip(batch["shard"], batch["start"], batch["lines"]):
            lines = json.loads(str(text))
            self.work.run_shard(int(shard), lambda folder, s=int(start), ls=lines: self.run(
                self.loaded, s, ls, folder))
        return {"shard": np.asarray(batch["shard"])}


# ---------------------------------------------------------------------------------------------
# Head statistics as a map-reduce of per-shard sums


def pattern_sums(loaded: Loaded, id_lists: Sequence[Sequence[int]], *,
                 with_map: bool = True) -> dict[str, np.ndarray]:
    """Per-head sums over the sentences (special tokens included in ``id_lists``): each
    statistic's sum over query tokens, ``queries``, ``pairs``, ``squares``, ``sentences`` and
    (``with_map``) ``divergence`` (summed Jensen–Shannon divergences). Add the sums of any
    split of a corpus and :func:`patterns_from_sums` gives the corpus's averages."""
    from explorer.attention_passes import iterate_passes
    from explorer.head_patterns import (
        ATTENTION_VALUES_PER_BATCH,
        boundary_token_ids,
        divergence_sums,
        sentence_sums,
        token_kinds,
    )

    id_lists = [list(ids) for ids in id_lists if len(ids)]
    boundaries = boundary_token_ids(loaded)
    heads = loaded.info.num_layers * loaded.info.num_heads
    totals: dict[str, np.ndarray] = {"sentences": np.asarray(float(len(id_lists)))}
    if with_map:
        totals["divergence"] = np.zeros((heads, heads))
    for _, sentence in iterate_passes(loaded, id_lists, batch_size=64,
                                      max_square_tokens=ATTENTION_VALUES_PER_BATCH // heads):
        sums = sentence_sums(sentence.attentions,
                             token_kinds(loaded, sentence.token_ids, boundaries))
        for name, value in sums.items():
            totals[name] = totals.get(name, 0) + np.asarray(value, dtype=np.float64)
        if with_map:
            totals["divergence"] = totals["divergence"] + divergence_sums(sentence.attentions)
    return {name: np.asarray(value, dtype=np.float64) for name, value in totals.items()}


def add_sums(parts: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The element-wise sum of several :func:`pattern_sums` results."""
    total: dict[str, np.ndarray] = {}
    for part in parts:
        for name, value in part.items():
            total[name] = total[name] + value if name in total else np.array(value)
    return total


def patterns_from_sums(sums: dict[str, np.ndarray]):  # -> HeadPatterns
    """Averages of :func:`pattern_sums` (as :func:`explorer.head_patterns.patterns_of_ids`)."""
    from explorer.head_patterns import STATISTICS, HeadPatterns, head_map

    if float(sums.get("queries", 0)) <= 0:
        raise ValueError("There are no sentences to summarise.")
    queries, pairs = float(sums["queries"]), float(sums["pairs"])
    averages = {name: sums[name] / max(1.0, pairs if name in ("to_previous", "to_next")
                                       else queries)
                for name in STATISTICS}
    divergence = sums["divergence"] / queries if "divergence" in sums else np.zeros((0, 0))
    return HeadPatterns(
        **averages,
        divergence=divergence,
        map_xy=head_map(divergence) if "divergence" in sums else np.zeros((0, 2)),
        sentences=int(sums["sentences"]),
        tokens=int(queries),
        square_tokens=int(sums["squares"]),
    )


def _pattern_shard(with_map: bool) -> ShardFunction:
    return _PatternShard(with_map)


class _PatternShard:
    """The per-shard step of :func:`batch_head_patterns` (a class: Ray pickles it)."""

    def __init__(self, with_map: bool) -> None:
        self.with_map = with_map

    def __call__(self, loaded: Loaded, first_line: int, lines: Sequence[str],
                 folder: Path) -> None:
        from explorer.corpus.encoding import tokenize

        id_lists, cut = tokenize(loaded, lines)
        sums = pattern_sums(loaded, id_lists, with_map=self.with_map)
        sums["truncated"] = np.asarray(float(cut))
        np.savez(folder / "sums.npz", **sums)


def batch_head_patterns(
    loaded: Loaded,
    sentences: Sequence[str],
    work_folder: str | Path | None = None,
    *,
    with_map: bool = True,
    shard_lines: int = 1_000,
    progress: Progress | None = None,
    ray_address: str | None = None,
    model_name: str | None = None,
    corpus_digest: str = "",
):  # -> tuple[HeadPatterns, int]
    """Head statistics of ``sentences`` (cleaned and tokenised as the Explorer and the app's
    Head patterns page read them) as a map-reduce over shards; returns the
    :class:`~explorer.head_patterns.HeadPatterns` and how many lines were cut to the model's
    limit. ``work_folder`` keeps finished shards so a stopped job resumes (a temporary folder,
    removed at the end, when ``None``)."""
    from explorer.corpus.disk_cache import model_fingerprint

    sentences = [s for s in sentences if s.strip()]
    if not sentences:
        raise ValueError("There are no sentences to summarise.")
    plan = ShardPlan.of(len(sentences), shard_lines)
    digest = corpus_digest or hashlib.sha256("\n".join(sentences).encode("utf-8")).hexdigest()
    key = job_key({"job": "head-stats", "version": 1, "model": model_fingerprint(loaded),
                   "corpus": digest, "shard_lines": shard_lines, "map": with_map})
    temporary = None
    if work_folder is None:
        temporary = tempfile.mkdtemp(prefix="explorer-head-stats-")
        work_folder = temporary
    try:
        work = WorkFolder(Path(work_folder), key, len(plan.shards))
        run_shards(loaded, sentences, work, plan, _pattern_shard(with_map), progress=progress,
                   ray_address=ray_address, model_name=model_name)
        parts = []
        for shard in range(len(plan.shards)):
            with np.load(work.shard_folder(shard) / "sums.npz") as stored:
                parts.append({name: stored[name] for name in stored.files})
        total = add_sums(parts)
        truncated = int(total.pop("truncated"))
        return patterns_from_sums(total), truncated
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)
