"""LanceDB's disk-based IVF-PQ against the app's faiss IVF-PQ + exact re-ranking, same vectors.

``python bench/corpus_scale.py --scale 1000000 --keep`` leaves a folder with the vectors
(``hidden_0.f16.npy``, the app's re-ranking file), the faiss index, the queries and their exact
top-k; then ``python bench/lance_compare.py FOLDER`` builds a LanceDB table of the same float16
vectors with an IVF_PQ index of the same shape (as many partitions as faiss has lists, the same
number of one-byte sub-vectors, dot product on unit rows = cosine) and measures, for both
engines in the same run: recall@10 against the exact top-k, single-query latency (median,
p95), the index's bytes per vector on disk, the stored vectors' bytes per vector, and the
resident memory of a fresh process that opens the index and runs 50 queries. LanceDB's
``refine_factor`` re-scores ``refine_factor × k`` candidates with the stored vectors, as the
app's re-ranking does, so the settings are compared at equal re-rank depth.

Needs ``lancedb`` (requirements-bench.txt). Printed figures, no assertions.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("LANCE_LOG", "error")  # not a deprecation warning per query

from bench.corpus_scale import load_note, resident_memory
from bench.recall import recall_at_k
from explorer.corpus.large import RerankedIndex, _read_faiss

TABLE = "vectors"
BATCH = 100_000


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def build_lance(vectors: np.ndarray, where: Path, partitions: int, sub_vectors: int
                ) -> tuple[float, float]:
    """A LanceDB table ``vectors`` (``row`` int64, ``vector`` float16[dim]) written in batches,
    and its IVF_PQ index; returns (write seconds, index seconds)."""
    import lancedb
    import pyarrow as pa

    rows, dim = vectors.shape
    schema = pa.schema([("row", pa.int64()),
                        ("vector", pa.list_(pa.float16(), dim))])

    def batches():
        for start in range(0, rows, BATCH):
            block = np.ascontiguousarray(vectors[start:start + BATCH], dtype=np.float16)
            flat = pa.array(block.reshape(-1), type=pa.float16())
            yield pa.RecordBatch.from_arrays(
                [pa.array(np.arange(start, start + len(block), dtype=np.int64)),
                 pa.FixedSizeListArray.from_arrays(flat, dim)], schema=schema)

    database = lancedb.connect(str(where))
    started = time.perf_counter()
    table = database.create_table(TABLE, data=pa.RecordBatchReader.from_batches(
        schema, batches()), mode="overwrite")
    written = time.perf_counter() - started
    started = time.perf_counter()
    table.create_index(metric="dot", num_partitions=partitions, num_sub_vectors=sub_vectors,
                       index_type="IVF_PQ", vector_column_name="vector")
    return written, time.perf_counter() - started


def lance_search(table, query: np.ndarray, k: int, nprobes: int, refine: int) -> np.ndarray:
    result = (table.search(query.astype(np.float32), vector_column_name="vector")
              .distance_type("dot").nprobes(nprobes).refine_factor(refine).limit(k)
              .select(["row", "_distance"]).to_arrow())
    return result.column("row").to_numpy()


LANCE_PROBE = """
import os; os.environ["LANCE_LOG"] = "error"
import sys, numpy as np, lancedb
def rss():
    fields = dict(line.split(':') for line in open('/proc/self/status') if ':' in line)
    kb = lambda name: int(fields[name].split()[0]) * 1024
    return kb('RssAnon'), kb('RssFile')
sys.path.insert(0, {root!r})
from bench.lance_compare import lance_search, TABLE
queries = np.load({queries!r})
before = rss()
table = lancedb.connect({where!r}).open_table(TABLE)
opened = rss()
for q in queries:
    lance_search(table, q, 10, {nprobes}, {refine})
print(*before, *opened, *rss())
"""


def lance_memory(where: Path, queries_path: Path, nprobes: int, refine: int) -> list[int]:
    code = LANCE_PROBE.format(root=str(Path(__file__).resolve().parent.parent),
                              where=str(where), queries=str(queries_path), nprobes=nprobes,
                              refine=refine)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    return [int(value) for value in out]


def timed(search, queries: np.ndarray) -> tuple[np.ndarray, list[float]]:
    for query in queries[:5]:
        search(query)  # warm-up
    found, latencies = [], []
    for query in queries:
        started = time.perf_counter()
        rows = search(query)
        latencies.append(time.perf_counter() - started)
        found.append(np.pad(rows, (0, 10 - len(rows)), constant_values=-1)[:10])
    return np.stack(found), latencies


def memory_line(values: list[int]) -> str:
    anon_before, file_before, anon_opened, _, anon_after, file_after = values
    return (f"private +{(anon_opened - anon_before) / 1e6:,.1f} MB after open, "
            f"+{(anon_after - anon_before) / 1e6:,.1f} MB after 50 searches; file pages "
            f"+{(file_after - file_before) / 1e6:,.1f} MB")


def compare(folder: Path, settings: list[tuple[int, int]], k: int = 10,
            lance_dir: Path | None = None, memory: bool = True) -> None:
    vectors = np.load(folder / "hidden_0.f16.npy", mmap_mode="r")
    queries = np.load(folder / "queries.npy")
    exact = np.load(folder / "exact.npy")[:, :k]
    rows = len(vectors)
    faiss_index = RerankedIndex(_read_faiss(folder / "hidden_0.faiss"), vectors)
    partitions, sub_vectors = faiss_index.ivfpq.nlist, faiss_index.ivfpq.pq.M
    where = lance_dir or folder / "lance"
    print(f"{rows:,} vectors of {vectors.shape[1]} dims, {len(queries)} queries; faiss "
          f"{partitions} lists × {sub_vectors} B codes; {load_note()}", flush=True)
    written, indexed = build_lance(vectors, where, partitions, sub_vectors)
    import lancedb

    table = lancedb.connect(str(where)).open_table(TABLE)
    index_dir = where / f"{TABLE}.lance" / "_indices"
    index_bytes = folder_bytes(index_dir)
    data_bytes = folder_bytes(where) - index_bytes
    faiss_bytes = (folder / "hidden_0.faiss").stat().st_size
    print(f"LanceDB {lancedb.__version__}: table written in {written:.0f} s, IVF_PQ built in "
          f"{indexed:.0f} s; index {index_bytes / rows:.1f} B/vector, stored vectors "
          f"{data_bytes / rows:,.0f} B/vector; faiss: index {faiss_bytes / rows:.1f} B/vector, "
          f"re-ranking vectors {(folder / 'hidden_0.f16.npy').stat().st_size / rows:,.0f} "
          f"B/vector; {load_note()}", flush=True)
    print(f"{'engine':8} {'nprobe':>6} {'re-rank':>7} {'recall@' + str(k):>9} "
          f"{'median ms':>9} {'p95 ms':>7}")
    for nprobe, rerank in settings:
        refine = max(1, rerank // k)
        faiss_index.nprobe, faiss_index.rerank = nprobe, refine * k
        for engine, search in (
            ("faiss", lambda q: faiss_index.search(q[None], k)[1][0]),
            ("lancedb", lambda q, n=nprobe, r=refine: lance_search(table, q, k, n, r)),
        ):
            found, latencies = timed(search, queries)
            print(f"{engine:8} {nprobe:6d} {refine * k:7d} {recall_at_k(exact, found):9.3f} "
                  f"{1e3 * float(np.median(latencies)):9.1f} "
                  f"{1e3 * float(np.percentile(latencies, 95)):7.1f}", flush=True)
    if not memory:
        return
    nprobe, rerank = settings[-1]
    refine = max(1, rerank // k)
    queries_path = folder / "queries-50.npy"
    np.save(queries_path, queries[:50])
    print(f"fresh process, open + 50 searches (nprobe {nprobe}, re-rank {refine * k}): faiss "
          f"{memory_line(resident_memory(folder, queries[:50], (nprobe, refine * k)))}; "
          f"lancedb {memory_line(lance_memory(where, queries_path, nprobe, refine))}; "
          f"{load_note()}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a folder kept by bench/corpus_scale.py --keep")
    parser.add_argument("--settings", default="16:200,32:200,64:500,128:1000",
                        metavar="NPROBE:RERANK,...")
    parser.add_argument("--lance-dir", default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = [tuple(map(int, pair.split(":"))) for pair in args.settings.split(",")]
    compare(Path(args.folder), settings,
            lance_dir=Path(args.lance_dir) if args.lance_dir else None)


if __name__ == "__main__":
    main()
