"""The corpus a page reads: the bundled one or an upload, with the upload limits stated and
applied (:mod:`explorer.corpus.limits`), shared by the Corpus search and Head patterns pages."""

from __future__ import annotations

import streamlit as st

from explorer.corpus import (
    MAX_CORPUS_BYTES,
    MAX_CORPUS_LINES,
    Corpus,
    CorpusError,
    bundled_corpus,
    max_upload_tokens,
    read_corpus,
)

SOURCE_LABELS = {"bundled": "Bundled corpus", "upload": "Upload a .txt file"}


def upload_limits() -> str:
    """The upload limits, as a sentence part: "at most 256 KB, 5,000 lines and 20,000 tokens"."""
    return (f"at most {MAX_CORPUS_BYTES // 1024} KB, {MAX_CORPUS_LINES:,} lines and "
            f"{max_upload_tokens():,} tokens")


def choose_corpus(source_key: str, upload_key: str, use: str = "search it") -> Corpus:
    """A radio (bundled / upload) and, for an upload, the file field; the corpus chosen. The
    run stops, with a message, while no usable file is uploaded. ``use`` ends the prompt
    ("Upload a text file to search it")."""
    source = st.radio("Corpus", list(SOURCE_LABELS), key=source_key, horizontal=True,
                      format_func=SOURCE_LABELS.__getitem__)
    if source != "upload":
        return bundled_corpus()
    upload = st.file_uploader(
        "A UTF-8 .txt file, one sentence or paragraph per line", type=["txt"],
        key=upload_key, max_upload_size=1, help=f"A{upload_limits()[1:]}.",
    )
    if upload is None:
        st.info(f"Upload a text file to {use}, or choose the bundled corpus.")
        st.stop()
    try:
        return read_corpus(upload.getvalue(), name=upload.name)
    except CorpusError as error:
        st.error(str(error), icon=":material/description:")  # no user text in it
        st.stop()
    raise AssertionError("unreachable")  # st.stop() raises
