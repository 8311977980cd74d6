"""A large corpus of real English text, built from a Debian package (no Streamlit).

Source: **GCIDE**, the GNU Collaborative International Dictionary of English (Debian package
``dict-gcide``; licence GPL-2.0-or-later, see its ``copyright`` file). Its dictd file
``gcide.dict.dz`` (gzip; ``scripts/setup-corpus.sh`` unpacks the package into
``data/large/gcide/`` with its copyright file, without installing it) holds Webster's 1913
dictionary with later additions. Kept, one per line: the **quotations** (sentences of English
literature and prose quoted as usage examples, the author's name dropped), the
**definitions** and the usage **notes** (English prose); dropped: head-word lines
(pronunciation, etymology), synonym lists, source tags (``[1913 Webster]``), bracketed labels
(``[Obs.]``), cross-reference braces, lines of fewer than four words, and repeats.

``python -m explorer.corpus.english [OUT]`` (``scripts/setup-corpus.sh`` runs it) writes
``data/large/english.txt``; ``explorer index data/large/english.txt -o indexes/english`` then
builds its IVF-PQ index, which the Corpus search page opens. The small bundled
``data/corpus.txt`` stays the corpus of the tests and of a machine without it.
"""

from __future__ import annotations

import gzip
import os
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from explorer.corpus.reading import ROOT

LARGE_DIR = ROOT / "data" / "large"
GCIDE_DICT = LARGE_DIR / "gcide" / "gcide.dict.dz"  # unpacked there by scripts/setup-corpus.sh
DEFAULT_OUT = LARGE_DIR / "english.txt"
LICENCE = ("GCIDE (GNU Collaborative International Dictionary of English, Debian package "
           "dict-gcide), GPL-2.0-or-later")

_SOURCE_TAG = re.compile(r"^\s*\[[^\]]*\]\s*$")  # a line that is only "[1913 Webster]"
_LABEL = re.compile(r"\[[^\]]{0,60}\]")  # [Obs.], [R.], [=a] (macron notation), [Colloq.]
_DOMAIN = re.compile(r"^\((?:[A-Z][A-Za-z]*\.?\s?)+\)\s*")  # (Bot.) (Anat.) (Naut.)
_SENSE = re.compile(r"^(?:\d+\.|\([a-z]\))\s*")  # 1.  (a)
_ATTRIBUTION = re.compile(r"\s*--\s*[A-Z][^-]{0,60}$")  # --Milton.  --Sir W. Scott.
_INLINE_ATTRIBUTION = re.compile(  # "... cold heat. --Milton. To execute ..."
    r"\s--\s?[A-Z][A-Za-z'.]*(?:\s(?:[A-Z][A-Za-z'.]*|of|de|the)){0,4}\.(?=\s|$)")
_MIN_WORDS = 4


def _clean(text: str) -> str:
    text = re.sub(r"\{([^{}]*)\}", r"\1", text)  # {Afeard} → Afeard (cross references)
    text = _LABEL.sub("", text)
    text = _INLINE_ATTRIBUTION.sub("", text)
    text = _DOMAIN.sub("", text.strip())
    text = _SENSE.sub("", text)
    text = _DOMAIN.sub("", text)
    return " ".join(text.split())


def _kept(text: str) -> bool:
    words = text.split()
    return (len(words) >= _MIN_WORDS and any(c.isalpha() for c in text)
            and not any(c in text for c in "\\*{}|"))


def gcide_sentences(dict_text: str) -> Iterator[str]:
    """The quotations, definitions and notes of GCIDE's dictd text, cleaned, one per item, in
    the dictionary's order (repeats included; :func:`write_corpus` drops them)."""
    for block in dict_text.split("\n\n"):
        lines = [line for line in block.split("\n")
                 if line.strip() and not _SOURCE_TAG.match(line)]
        if not lines:
            continue
        indent = len(lines[0]) - len(lines[0].lstrip(" "))
        first = lines[0].strip()
        if indent == 0 or first.startswith(("Syn:", "Syn.", "Usage:")):
            continue  # head word (pronunciation, etymology) or a synonym list
        if indent >= 8:  # a quotation, maybe with its author on the last line
            text = " ".join(line.strip() for line in lines)
            text = _ATTRIBUTION.sub("", text)
        elif 3 <= indent < 8:
            text = " ".join(line.strip() for line in lines)
            text = re.sub(r"^Note:\s*", "", text)
            text = _ATTRIBUTION.sub("", text)  # "A saddle horse. --Wright."
        else:
            continue
        text = _clean(text)
        if _kept(text):
            yield text


def write_corpus(sentences: Iterable[str], out: Path) -> tuple[int, int]:
    """Write distinct ``sentences`` one per line to ``out`` (under a temporary name, renamed
    when complete); returns (lines, words)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(out.name + ".tmp")
    seen: set[str] = set()
    words = 0
    with temporary.open("w", encoding="utf-8") as file:
        for sentence in sentences:
            if sentence in seen:
                continue
            seen.add(sentence)
            words += len(sentence.split())
            file.write(sentence + "\n")
    os.replace(temporary, out)
    return len(seen), words


def build_english_corpus(out: Path = DEFAULT_OUT, source: Path = GCIDE_DICT) -> tuple[int, int]:
    """``data/large/english.txt`` from the installed ``dict-gcide`` package; (lines, words).
    Raises ``FileNotFoundError`` naming the package when it is not installed."""
    if not source.is_file():
        raise FileNotFoundError(f"{source} not found: run scripts/setup-corpus.sh (it unpacks "
                                "the Debian package dict-gcide there).")
    with gzip.open(source, "rt", encoding="utf-8", errors="replace") as file:
        text = file.read()
    return write_corpus(gcide_sentences(text), out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else DEFAULT_OUT
    try:
        lines, words = build_english_corpus(out)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"{out}: {lines:,} lines, {words:,} words ({LICENCE})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
