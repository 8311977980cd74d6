"""Corpus search, exBERT-style: nearest contextual embeddings and head outputs (no Streamlit).

One job per module:

- :mod:`~explorer.corpus.reading`: read and validate a corpus file; the bundled corpus;
- :mod:`~explorer.corpus.limits`: the bounds on uploads, index memory and the disk cache;
- :mod:`~explorer.corpus.encoding`: the Explorer's cleaning and tokenisation, hooked forward
  passes in batches (hidden states and head outputs);
- :mod:`~explorer.corpus.index`: faiss indices per layer and storage kind, the build;
- :mod:`~explorer.corpus.search`: query encoding, nearest tokens, a match in context;
- :mod:`~explorer.corpus.disk_cache`: save, load, keys, LRU eviction;
- :mod:`~explorer.corpus.head_cache`: corpus-wide head statistics in the same disk cache
  (import it from there).

The public names are importable from ``explorer.corpus``.
"""

from explorer.corpus.disk_cache import (
    CACHE_ENV_VAR,
    FORMAT_VERSION,
    build_or_load,
    cache_dir,
    cache_entries,
    cached_index_folder,
    disk_bytes,
    evict,
    index_key,
    load_cached,
    load_index,
    model_fingerprint,
    save_index,
)
from explorer.corpus.encoding import (
    EncodedBatch,
    EncodedText,
    ProgressCallback,
    attention_output_projections,
    encode_corpus,
    encode_text,
    forward_batch,
    token_pieces,
    tokenize,
)
from explorer.corpus.index import (
    STORAGES,
    CorpusIndex,
    IndexSettings,
    Storage,
    build_index,
    count_tokens,
    estimated_index_bytes,
    head_unit_rows,
    new_index,
    release_freed_memory,
    unit_rows,
)
from explorer.corpus.limits import (
    DISK_CACHE_ENV_VAR,
    MAX_CORPUS_BYTES,
    MAX_CORPUS_LINES,
    MAX_TOKENS_ENV_VAR,
    disk_cache_bytes,
    max_upload_tokens,
    size_problem,
)
from explorer.corpus.reading import BUNDLED_CORPUS, Corpus, CorpusError, bundled_corpus, read_corpus
from explorer.corpus.search import (
    Context,
    Match,
    Mode,
    QueryTokens,
    encode_query,
    match_context,
    search,
    search_vectors,
)

__all__ = [
    "BUNDLED_CORPUS", "CACHE_ENV_VAR", "DISK_CACHE_ENV_VAR", "FORMAT_VERSION", "MAX_CORPUS_BYTES",
    "MAX_CORPUS_LINES", "MAX_TOKENS_ENV_VAR", "STORAGES", "Context", "Corpus", "CorpusError",
    "CorpusIndex", "EncodedBatch", "EncodedText", "IndexSettings", "Match", "Mode",
    "ProgressCallback", "QueryTokens", "Storage", "attention_output_projections",
    "build_index", "build_or_load", "bundled_corpus", "cache_dir", "cache_entries",
    "cached_index_folder", "count_tokens", "disk_bytes", "disk_cache_bytes", "encode_corpus",
    "encode_query", "encode_text", "estimated_index_bytes", "evict", "forward_batch",
    "head_unit_rows", "index_key", "load_cached", "load_index", "match_context",
    "max_upload_tokens", "model_fingerprint", "new_index", "read_corpus",
    "release_freed_memory", "save_index", "search", "search_vectors", "size_problem",
    "token_pieces", "tokenize", "unit_rows",
]
