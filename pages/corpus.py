"""Corpus search: nearest corpus tokens to a chosen token, by hidden state or by head outputs."""

from __future__ import annotations

import streamlit as st

from components.corpus_views import context_html, matched_tokens_histogram
from explorer.corpus import (
    Corpus,
    CorpusError,
    IndexSettings,
    count_tokens,
    disk_cache_bytes,
    estimated_index_bytes,
    match_context,
    search,
    size_problem,
)
from explorer.state import DEFAULT_CORPUS_QUERY, unsearchable_token_note
from ui import keys
from ui.corpus_built import choose_built_index
from ui.corpus_built import describe as describe_built
from ui.corpus_cache import build_and_keep, cached_index, cached_query, max_index_bytes
from ui.corpus_source import choose_corpus, upload_limits
from ui.entry import ensure_app_entry
from ui.export import chart_config
from ui.long_work import offer_to_start, progress_bar
from ui.markdown import escape_markdown
from ui.url_state import CORPUS_FIELDS, page_model, publish_url_state

ensure_app_entry()

DEFAULT_QUERY = DEFAULT_CORPUS_QUERY  # the link leaves it out
STORAGE_LABELS = {
    "fp16": "float16 (half the size of exact)",
    "sq8": "8-bit (a quarter of exact)",
    "flat": "exact float32",
}
CONTEXT_TOKENS = 8  # tokens shown either side of a match
MODE_LABELS = {"embedding": "by embedding", "heads": "by selected heads' output"}

st.title("Corpus search")
st.caption(
    "Find the corpus tokens whose contextual embedding (or attention-head output) at a layer is "
    "nearest to a token you choose, as in exBERT. Similarity is cosine."
)

loaded = page_model("corpus", CORPUS_FIELDS)
info = loaded.info

# --- the corpus --------------------------------------------------------------------------------
MIB = 2**20
st.caption(
    f"Limits on this server: an uploaded file holds {upload_limits()}; corpus indices share the "
    f"app's {max_index_bytes() / MIB:,.0f} MiB memory budget with the analyses; the disk cache "
    f"keeps at most {disk_cache_bytes() / MIB:,.0f} MiB of indices (least recently used "
    "removed first)."
)
built = choose_built_index(loaded)  # an index made by `explorer index`, or None
corpus = (Corpus(name=built.folder.name, sentences=()) if built is not None else
          choose_corpus(keys.CORPUS_SOURCE, keys.CORPUS_UPLOAD, "search it"))
corpus_name = escape_markdown(corpus.name)  # a file name is user text

with st.expander("Index settings"):
    storage = st.selectbox("Vector storage", list(STORAGE_LABELS), key=keys.CORPUS_STORAGE,
                           format_func=STORAGE_LABELS.__getitem__)
    with_heads = st.checkbox("Also index attention-head outputs", value=True,
                             key=keys.CORPUS_WITH_HEADS)
settings = IndexSettings(storage=storage, heads=with_heads)

index = built if built is not None else cached_index(loaded, corpus, settings)
if index is None:
    tokens = count_tokens(loaded, corpus)
    needed = estimated_index_bytes(info, tokens, settings)
    problem = size_problem(tokens, needed, bundled=corpus.bundled,
                           max_index_bytes=max_index_bytes())
    if problem:
        st.error(problem, icon=":material/memory:")
        st.stop()
    offer_to_start(
        f"The {corpus_name} ({len(corpus.sentences):,} lines, {tokens:,} tokens, about "
        f"{needed / MIB:,.1f} MiB of vectors) has no index for this model yet. Building one runs "
        "the model once over every line; it is then cached on disk.", "Build index",
        key="corpus_build")
    progress = progress_bar("Indexing …", "Indexing line {done} of {total} …",
                            "index build")
    index = build_and_keep(loaded, corpus, settings, progress.show_progress,
                           progress.show_waiting)
    progress.bar.empty()

megabytes = index.vector_bytes() / 1e6
how = "loaded from the disk cache" if index.from_cache else f"built in {index.seconds:.1f} s"
if built is not None:
    st.caption(f"{corpus_name}: {describe_built(built)}")
else:
    st.caption(
        f"{corpus_name}: {index.num_tokens:,} tokens in {len(index.sentences):,} lines; "
        f"{megabytes:.1f} MB of vectors ({index.bytes_per_token():,.0f} bytes per token, "
        f"{STORAGE_LABELS[index.settings.storage]}); {how}."
    )
for note in index.notes:
    st.info(note)  # written by explorer.corpus, no user text

# --- the query token ---------------------------------------------------------------------------
explorer_text = str(st.session_state.get(keys.TEXT) or "")
follows_explorer = bool(explorer_text) and (
    st.session_state.get(keys.CORPUS_QUERY_FROM) != explorer_text)
if follows_explorer:
    st.session_state[keys.CORPUS_QUERY] = explorer_text  # follow the explorer's new text
    st.session_state[keys.CORPUS_QUERY_FROM] = explorer_text
if keys.CORPUS_QUERY not in st.session_state:
    st.session_state[keys.CORPUS_QUERY] = DEFAULT_QUERY
query_text = st.text_input("Text to take the query token from (starts as the shared text)",
                           key=keys.CORPUS_QUERY,
                           help="It follows the text the Explorer, Layers & heads and Models "
                                "pages share; what you type here changes only this page.")
try:
    query = cached_query(loaded, query_text)
except CorpusError as error:
    st.warning(str(error), icon=":material/edit:")
    st.stop()
for note in query.notes:  # the Explorer's cleaning notes ([MASK] read as <mask> …)
    st.caption(escape_markdown(note))

choices = [i for i, special in enumerate(query.special_mask.tolist()) if not special]
if not choices:
    st.warning("The text has no tokens to search for.")
    st.stop()
selected_in_explorer = st.session_state.get(keys.SELECTED_TOKEN)
asked_token = st.session_state.get(keys.CORPUS_TOKEN)
if asked_token not in choices:
    from_explorer = query_text == explorer_text and selected_in_explorer in choices
    st.session_state[keys.CORPUS_TOKEN] = selected_in_explorer if from_explorer else choices[0]
    if asked_token is not None and not follows_explorer:  # a link's token, or the last text's
        st.warning(escape_markdown(unsearchable_token_note(
            asked_token, query.labels, query.special_mask.tolist(),
            st.session_state[keys.CORPUS_TOKEN])), icon=":material/link:")

token_column, layer_column, mode_column = st.columns(3)
token = int(token_column.selectbox("Token", choices, key=keys.CORPUS_TOKEN,
                                   format_func=lambda i: f"{i}: {query.labels[i]}"))
modes = ["embedding", "heads"] if index.heads is not None else ["embedding"]
if st.session_state.get(keys.CORPUS_MODE) not in modes:
    st.session_state[keys.CORPUS_MODE] = "embedding"
mode = mode_column.radio("Search", modes, key=keys.CORPUS_MODE,
                         format_func=MODE_LABELS.__getitem__)
layers = list(range(0 if mode == "embedding" else 1, index.num_layers + 1))
if st.session_state.get(keys.CORPUS_LAYER) not in layers:
    st.session_state[keys.CORPUS_LAYER] = index.num_layers
layer = int(layer_column.selectbox(
    "Layer", layers, key=keys.CORPUS_LAYER,
    format_func=lambda i: "embeddings" if i == 0 else f"layer {i}"))

heads = None
if mode == "heads":
    if keys.CORPUS_HEADS not in st.session_state:
        from_graph = st.session_state.get(keys.HEADS)
        valid = isinstance(from_graph, list) and from_graph and all(
            isinstance(h, int) and 0 <= h < index.num_heads for h in from_graph)
        st.session_state[keys.CORPUS_HEADS] = list(from_graph) if valid else list(
            range(index.num_heads))
    heads = st.multiselect("Heads compared (score = mean cosine over them)",
                           list(range(index.num_heads)), key=keys.CORPUS_HEADS,
                           format_func=lambda h: f"head {h + 1}")
    if not heads:
        st.warning("Select at least one head.")
        st.stop()
k = int(st.number_input("Matches", min_value=1, max_value=100, value=10, key=keys.CORPUS_K))
publish_url_state()  # the token, layer and heads the page settled on are in the link

matches = search(index, query, token, layer, mode, heads, k)

# --- results -----------------------------------------------------------------------------------
where = "embeddings" if layer == 0 else f"layer {layer}"
st.subheader(f"Nearest to “{escape_markdown(query.labels[token])}” at {where}, "
             f"{MODE_LABELS[mode]}")
header = st.columns([0.6, 0.9, 6, 1.4])
for column, title in zip(header, ["#", "score", "context", ""]):
    column.markdown(f"**{title}**")
for match in matches:
    context = match_context(index, match, width=CONTEXT_TOKENS)
    rank_column, score_column, context_column, open_column = st.columns([0.6, 0.9, 6, 1.4])
    rank_column.markdown(f"{match.rank}")
    score_column.markdown(f"{match.score:.3f}")
    with context_column:
        st.html(context_html(context.before, context.token, context.after,
                             context.cut_before, context.cut_after))
    if open_column.button("Open", key=f"corpus_open_{match.rank}",
                          help="Open this sentence in the explorer"):
        st.session_state[keys.TEXT] = match.sentence
        st.session_state[keys.SELECTED_TOKEN] = match.position
        st.switch_page("pages/explorer.py")

st.plotly_chart(
    matched_tokens_histogram([m.token for m in matches], f"Matched tokens (top {len(matches)})"),
    key="corpus_histogram", config=chart_config("corpus-matched-tokens"),
)
