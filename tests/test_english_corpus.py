"""The large English corpus (explorer/corpus/english.py): GCIDE's dictd text cleaned into one
quotation, definition or note per line; and the file scripts/setup-corpus.sh builds (CI runs it
in scripts/setup-test.sh) holds over a million tokens of text `explorer index` accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer.corpus.english import DEFAULT_OUT, gcide_sentences, write_corpus
from explorer.corpus.large import read_corpus_file

# Verbatim from gcide.dict.dz (dict-gcide 0.48.5), with a synonym list and a note added from
# other entries of the same file.
SNIPPET = '''Affect \\Af*fect"\\, v. t. [imp. & p. p. {Affected}; p. pr. & vb.
   n. {Affecting}.] [L. affectus, p. p. of afficere to affect by
   active agency; ad + facere to make: cf. F. affectere, L.
   affectare, freq. of afficere. See {Fact}.]
   1. To act upon; to produce an effect or change upon.
      [1913 Webster]

            As might affect the earth with cold heat. --Milton.
      [1913 Webster]

            The climate affected their health and spirits.
                                                  --Macaulay.
      [1913 Webster]

   2. To influence or move, as the feelings or passions; to
      touch.
      [1913 Webster]

   3. To love; to regard with affection. [Obs.]
      [1913 Webster]

   Syn: To beseech; supplicate; crave; entreat; beg; solicit;
        petition; prey; request; adjure. See {Beseech}.
        [1913 Webster]

   2. (Bot.) A plant of the genus {Capparis}; -- called also
      {caper bush}, {caper tree}.
      [1913 Webster]

   Note: In senses 2, 3, and 4 the word is more commonly written
         subtlety.
         [1913 Webster]

   2. To influence or move, as the feelings or passions; to
      touch.
      [1913 Webster]

Affatuate \\Af*fat"u*ate\\, v. t. [L. ad + fatuus foolish.]
   To infatuate. [Obs.] --Milton.
   [1913 Webster]
'''

EXPECTED = [  # written by hand from the snippet
    "As might affect the earth with cold heat.",
    "The climate affected their health and spirits.",
    "To influence or move, as the feelings or passions; to touch.",
    "To love; to regard with affection.",
    "A plant of the genus Capparis; -- called also caper bush, caper tree.",
    "In senses 2, 3, and 4 the word is more commonly written subtlety.",
    "To influence or move, as the feelings or passions; to touch.",
]


def test_quotations_definitions_and_notes_are_kept_clean():
    # the first sense shares its block with the head word (pronunciation, etymology): dropped
    # with it, as are the synonym list, source tags, labels, braces and authors' names
    assert list(gcide_sentences(SNIPPET)) == EXPECTED


def test_written_corpus_drops_repeats_and_counts_words(tmp_path):
    out = tmp_path / "english.txt"
    lines, words = write_corpus(gcide_sentences(SNIPPET), out)
    written = out.read_text(encoding="utf-8").splitlines()
    assert written == list(dict.fromkeys(EXPECTED))
    assert (lines, words) == (len(written), sum(len(line.split()) for line in written))
    assert not list(tmp_path.glob("*.tmp"))


@pytest.fixture(scope="module")
def english() -> Path:
    assert DEFAULT_OUT.is_file(), "run scripts/setup-corpus.sh (scripts/setup-test.sh does)"
    return DEFAULT_OUT


def test_built_corpus_has_a_million_tokens_of_text_the_indexer_reads(english):
    corpus = read_corpus_file(english)  # what `explorer index` reads: no error
    words = sum(len(line.split()) for line in corpus.sentences)
    assert len(corpus.sentences) > 100_000
    assert words > 1_000_000  # a word is at least one token for these tokenizers
    text = english.read_text(encoding="utf-8")
    assert "\nThe climate affected their health and spirits.\n" in text
    assert "[1913 Webster]" not in text and "--Milton" not in text
    assert len(set(corpus.sentences)) == len(corpus.sentences)
