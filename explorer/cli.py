"""The command line: ``explorer analyze | head-stats | index`` (also ``python -m explorer``).

Every command reads its input as the app does (the same cleaning and tokenisation), shows a
progress bar on the terminal, works in resumable shards (run it again after a stop and the
finished shards are kept: :mod:`explorer.batch`), writes its output under a temporary name
renamed at the end (a stopped run leaves no half-written file), and on bad input prints one
clear line and exits with status 1 (2 for wrong arguments, 130 when interrupted).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_BAD_INPUT = 1
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A failure explained to the user in one line (no traceback)."""


def _progress(description: str, quiet: bool):
    """A ``progress(done, total)`` callback drawing a tqdm bar on stderr (and its closer)."""
    if quiet:
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(desc=description, unit="shard", file=sys.stderr, dynamic_ncols=True, leave=True)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return progress, bar.close


def _load_model(name: str | None):
    from explorer.model import ModelLoadError, load

    try:
        return load(name)
    except ModelLoadError as error:
        raise CommandError(str(error)) from None


def _read_corpus(path: str):
    from explorer.corpus.large import read_corpus_file
    from explorer.corpus.reading import CorpusError

    try:
        return read_corpus_file(path)
    except CorpusError as error:
        raise CommandError(str(error)) from None


def _work_folder(output: Path, given: str | None) -> Path:
    return Path(given) if given else output.with_name(output.name + ".work")


# ---------------------------------------------------------------------------------------------
# analyze


def analysis_record(analysis, line: int) -> dict:
    """One analysed text as JSON: tokens, truncation, notes and every mask's top-k (rows as
    the Hugging Face fill-mask pipeline returns them)."""
    return {
        "line": line,
        "text": analysis.text,
        "tokens": list(analysis.tokens),
        "token_ids": [int(i) for i in analysis.token_ids],
        "truncated": bool(analysis.truncated),
        "notes": list(analysis.notes),
        "masks": [{"position": mask.position, "predictions": [
            {"score": p.score, "token": p.token_id, "token_str": p.token_str,
             "sequence": p.sequence} for p in mask.predictions]}
            for mask in analysis.predictions],
    }


class _AnalyzeShard:
    """Analyse one shard of lines: ``records.json`` and (with arrays) ``arrays.npz``."""

    def __init__(self, top_k: int, arrays: bool) -> None:
        self.top_k = top_k
        self.arrays = arrays

    def __call__(self, loaded, first_line: int, lines: Sequence[str], folder: Path) -> None:
        import numpy as np

        from explorer.analysis import InputError, analyze

        records, arrays = [], {}
        for offset, text in enumerate(lines):
            number = first_line + offset
            try:
                analysis = analyze(loaded, text, top_k=self.top_k)
            except InputError as error:
                records.append({"line": number, "error": str(error)})
                continue
            records.append(analysis_record(analysis, number))
            if self.arrays:
                arrays[f"line{number}_token_ids"] = analysis.token_ids
                arrays[f"line{number}_attentions"] = analysis.attentions
                arrays[f"line{number}_hidden_states"] = analysis.hidden_states
        (folder / "records.json").write_text(json.dumps(records), encoding="utf-8")
        if self.arrays:
            np.savez(folder / "arrays.npz", **arrays)


def command_analyze(args: argparse.Namespace) -> int:
    import numpy as np

    from explorer.batch import ShardPlan, WorkFolder, job_key, run_shards, write_atomically
    from explorer.corpus.disk_cache import model_fingerprint

    if (args.text is None) == (args.file is None):
        raise CommandError("give either --text or --file")
    lines = [args.text] if args.text is not None else list(_read_corpus(args.file).sentences)
    output = Path(args.output)
    fmt = args.format or ("npz" if output.suffix == ".npz" else "json")
    loaded = _load_model(args.model)
    mask = loaded.info.mask_token
    if not loaded.info.has_lm_head and any(mask in line for line in lines):
        raise CommandError(f"{loaded.info.name} has no trained masked-LM head, so it cannot "
                           f"fill {mask}; use a masked language model (e.g. distilroberta-base).")
    plan = ShardPlan.of(len(lines), args.shard_lines)
    key = job_key({"job": "analyze", "version": 1, "model": model_fingerprint(loaded),
                   "lines": lines, "top_k": args.top_k, "format": fmt})
    work = WorkFolder(_work_folder(output, args.work), key, len(plan.shards))
    progress, close = _progress("analyze", args.quiet)
    try:
        run_shards(loaded, lines, work, plan, _AnalyzeShard(args.top_k, fmt == "npz"),
                   progress=progress)
    finally:
        close()
    records = []
    for shard in range(len(plan.shards)):
        records.extend(json.loads((work.shard_folder(shard) / "records.json").read_text(
            encoding="utf-8")))
    document = {"model": loaded.info.name, "top_k": args.top_k, "texts": records}
    if fmt == "json":
        write_atomically(output, json.dumps(document, ensure_ascii=False, indent=1))
    else:
        arrays: dict[str, np.ndarray] = {"records": np.asarray(json.dumps(document))}
        for shard in range(len(plan.shards)):
            with np.load(work.shard_folder(shard) / "arrays.npz") as stored:
                arrays.update({name: stored[name] for name in stored.files})
        temporary = output.with_name(output.name + ".partial.npz")
        np.savez(temporary, **arrays)
        os.replace(temporary, output)
    work.remove()
    failed = sum("error" in r for r in records)
    _say(args, f"analysed {len(records) - failed} text(s) → {output}"
         + (f"; {failed} could not be analysed (see their 'error')" if failed else ""))
    return 0


# ---------------------------------------------------------------------------------------------
# head-stats


def command_head_stats(args: argparse.Namespace) -> int:
    from explorer.batch import batch_head_patterns, write_atomically
    from explorer.head_patterns import statistic_labels

    corpus = _read_corpus(args.corpus)
    loaded = _load_model(args.model)
    output = Path(args.output)
    progress, close = _progress("head-stats", args.quiet)
    try:
        patterns, truncated = batch_head_patterns(
            loaded, corpus.sentences, _work_folder(output, args.work),
            with_map=not args.no_map, shard_lines=args.shard_lines, progress=progress,
            ray_address=args.ray, model_name=args.model, corpus_digest=corpus.digest)
    finally:
        close()
    if output.suffix == ".npz":
        temporary = output.with_name(output.name + ".partial.npz")
        patterns.save(temporary)
        os.replace(temporary, output)
    else:
        info = loaded.info
        write_atomically(output, patterns.csv(statistic_labels(info.start_token,
                                                                 info.end_token)))
    _say(args, f"head statistics of {patterns.sentences:,} lines ({patterns.tokens:,} tokens) "
         f"→ {output}" + (f"; {truncated} line(s) cut to the model's limit" if truncated
                          else ""))
    return 0


# ---------------------------------------------------------------------------------------------
# index


def command_index(args: argparse.Namespace) -> int:
    from explorer.corpus.large import build_corpus_index
    from explorer.corpus.reading import CorpusError

    corpus = _read_corpus(args.corpus)
    loaded = _load_model(args.model)
    progress, close = _progress("index", args.quiet)
    try:
        report = build_corpus_index(
            loaded, corpus, args.output, heads=not args.no_heads, shard_lines=args.shard_lines,
            kind=None if args.kind == "auto" else args.kind, progress=progress,
            ray_address=args.ray, model_name=args.model)
    except CorpusError as error:
        raise CommandError(str(error)) from None
    finally:
        close()
    resumed = (f" ({report.shards_skipped} of {report.shards} shards kept from a stopped run)"
               if report.shards_skipped else "")
    _say(args, f"indexed {report.tokens:,} tokens of {report.sentences:,} lines "
         f"({report.kind}) in {report.seconds:.1f} s{resumed} → {report.folder}")
    return 0


# ---------------------------------------------------------------------------------------------


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="explorer", description="Attention explorer for masked language models: scripted "
        "and corpus-scale work without the web page.")
    commands = main_parser.add_subparsers(dest="command", required=True)

    def common(sub: argparse.ArgumentParser, shard_lines: int) -> None:
        sub.add_argument("--model", default=None, help="hub id or folder (default: "
                         "$EXPLORER_MODEL, else distilroberta-base)")
        sub.add_argument("--shard-lines", type=int, default=shard_lines,
                         help=f"lines per resumable shard (default {shard_lines})")
        sub.add_argument("--work", default=None, help="folder for finished shards (default: "
                         "the output's name + .work)")
        sub.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    analyze = commands.add_parser("analyze", help="fill-mask top-k, tokens (JSON) and "
                                  "attentions and hidden states (NPZ) of a text or of each "
                                  "line of a file")
    analyze.add_argument("--text", help="one text (use <mask> for the masks)")
    analyze.add_argument("--file", help="a UTF-8 file, one text per line")
    analyze.add_argument("-o", "--output", required=True, help="output .json or .npz")
    analyze.add_argument("--format", choices=["json", "npz"], default=None,
                         help="default: from the output's suffix")
    analyze.add_argument("--top-k", type=int, default=5)
    common(analyze, 500)
    analyze.set_defaults(run=command_analyze)

    head_stats = commands.add_parser("head-stats", help="the Head patterns page's per-head "
                                     "table over a corpus (CSV, or NPZ with the map)")
    head_stats.add_argument("corpus", help="a UTF-8 file, one sentence or paragraph per line")
    head_stats.add_argument("-o", "--output", required=True, help="output .csv or .npz")
    head_stats.add_argument("--no-map", action="store_true",
                            help="skip the head-to-head divergences and the map")
    head_stats.add_argument("--ray", default=None, metavar="ADDRESS",
                            help="run the shards on Ray ('local' for a local instance)")
    common(head_stats, 1_000)
    head_stats.set_defaults(run=command_head_stats)

    index = commands.add_parser("index", help="a corpus search index (a folder) that the "
                                "Corpus search page opens")
    index.add_argument("corpus", help="a UTF-8 file, one sentence or paragraph per line")
    index.add_argument("-o", "--output", required=True, help="the index folder to write")
    index.add_argument("--kind", choices=["auto", "exact", "ivfpq"], default="auto",
                       help="exact flat search, IVF-PQ with exact re-ranking, or auto "
                       "(exact up to $EXPLORER_EXACT_INDEX_TOKENS tokens, default 200,000)")
    index.add_argument("--no-heads", action="store_true",
                       help="index only hidden states, not attention-head outputs")
    index.add_argument("--ray", default=None, metavar="ADDRESS",
                       help="encode the shards on Ray ('local' for a local instance)")
    common(index, 2_000)
    index.set_defaults(run=command_index)
    return main_parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = parser().parse_args(argv)
    if getattr(args, "shard_lines", 1) < 1:
        print("explorer: error: --shard-lines must be at least 1", file=sys.stderr)
        return 2
    try:
        return int(args.run(args))
    except CommandError as error:
        print(f"explorer {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"explorer {args.command}: stopped; run the same command again to resume "
              "(finished shards are kept).", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
