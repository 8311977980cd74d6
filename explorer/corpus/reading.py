"""Reading a corpus: a UTF-8 text file, one sentence or paragraph per line (no Streamlit)."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from explorer.corpus.limits import MAX_CORPUS_BYTES, MAX_CORPUS_LINES

ROOT = Path(__file__).resolve().parent.parent.parent
BUNDLED_CORPUS = ROOT / "data" / "corpus.txt"


class CorpusError(ValueError):
    """The corpus cannot be used; ``str(error)`` is a message fit for a user."""


@dataclass(frozen=True)
class Corpus:
    """Sentences (one per non-blank line) and a digest of them that keys the index cache.

    ``bundled`` corpora come with the app; uploads are held to :mod:`explorer.corpus.limits`.
    """

    name: str
    sentences: tuple[str, ...]
    notes: tuple[str, ...] = ()
    bundled: bool = False

    @property
    def digest(self) -> str:
        return hashlib.sha256("\n".join(self.sentences).encode("utf-8")).hexdigest()


def read_corpus(
    data: bytes,
    name: str = "uploaded corpus",
    *,
    max_bytes: int = MAX_CORPUS_BYTES,
    max_lines: int = MAX_CORPUS_LINES,
) -> Corpus:
    """Parse a UTF-8 text file holding one sentence or paragraph per line.

    Blank lines are skipped and control characters dropped. Raises :class:`CorpusError` for a
    file that is too large, not UTF-8 (naming the line), or has no text.
    """
    if len(data) > max_bytes:
        raise CorpusError(
            f"The file has {len(data):,} bytes; the corpus search accepts at most "
            f"{max_bytes:,} bytes. Upload a shorter file."
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise CorpusError(
            f"The file is not UTF-8 text: line {line} has the byte 0x{data[error.start]:02X} "
            f"at byte {column}, which is not valid UTF-8. Save the file as UTF-8 and upload it "
            "again."
        ) from None
    sentences: list[str] = []
    removed = 0
    for raw in text.splitlines():
        kept = "".join(ch for ch in raw if unicodedata.category(ch) not in {"Cc", "Cs"}
                       or ch == "\t")
        removed += len(raw) - len(kept)
        kept = " ".join(kept.split())
        if kept:
            sentences.append(kept)
    if not sentences:
        raise CorpusError("The file has no text: write one sentence or paragraph per line.")
    if len(sentences) > max_lines:
        raise CorpusError(
            f"The file has {len(sentences):,} non-blank lines; the corpus search accepts at "
            f"most {max_lines:,}."
        )
    notes = (f"Removed {removed} control character(s).",) if removed else ()
    return Corpus(name=name, sentences=tuple(sentences), notes=notes)


def bundled_corpus() -> Corpus:
    """The corpus shipped with the app (``data/corpus.txt``)."""
    corpus = read_corpus(BUNDLED_CORPUS.read_bytes(), name="bundled corpus")
    return Corpus(name=corpus.name, sentences=corpus.sentences, notes=corpus.notes,
                  bundled=True)
