"""Head patterns: each head's attention habits averaged over a corpus, on fixed colour scales,
and a map of heads by how alike they attend (Clark et al. 2019)."""

from __future__ import annotations

import streamlit as st

from components.head_pattern_charts import grid_cell_click, head_map_chart, statistic_grid
from explorer.corpus import count_tokens, disk_cache_bytes, size_problem
from explorer.head_patterns import STATISTICS, statistic_labels
from ui import keys
from ui.corpus_source import choose_corpus, upload_limits
from ui.entry import ensure_app_entry
from ui.export import chart_config
from ui.head_patterns_cache import cached_patterns, compute_and_keep
from ui.long_work import offer_to_start, progress_bar
from ui.markdown import escape_markdown
from ui.open_head import open_clicked_head
from ui.url_state import page_model

ensure_app_entry()

MIB = 2**20
GRID_COLUMNS = 2

st.title("Head patterns")
st.caption(
    "What each attention head does on average over a whole corpus: how much of its attention "
    "goes to the start and end tokens, to punctuation, to the token itself, the previous and "
    "the next token, and how spread out it is (entropy), averaged over every token of every "
    "line (Clark et al. 2019, “What Does BERT Look At?”). See the Guide for how to read it."
)

loaded = page_model("head_patterns", ())
info = loaded.info

st.caption(
    f"Limits on this server: an uploaded file holds {upload_limits()}; the statistics are kept "
    f"in the disk cache beside the corpus indices (at most {disk_cache_bytes() / MIB:,.0f} MiB "
    "in all, least recently used removed first)."
)
corpus = choose_corpus(keys.PATTERNS_SOURCE, keys.PATTERNS_UPLOAD, "summarise it")
corpus_name = escape_markdown(corpus.name)  # a file name is user text

result = cached_patterns(loaded, corpus)
if result is None:
    tokens = count_tokens(loaded, corpus)
    problem = size_problem(tokens, 0, bundled=corpus.bundled,
                           reader="the head statistics read")
    if problem:
        st.error(problem, icon=":material/memory:")
        st.stop()
    offer_to_start(
        f"The {corpus_name} ({len(corpus.sentences):,} lines, {tokens:,} tokens) has no head "
        "statistics for this model yet. Computing them runs the model once over every line; "
        "they are then cached on disk.", "Compute head statistics", key="patterns_compute")
    progress = progress_bar("Computing head statistics …", "Line {done} of {total} …",
                            "head statistics computation")
    result = compute_and_keep(loaded, corpus, progress.show_progress, progress.show_waiting)
    progress.bar.empty()

patterns = result.patterns
how = "loaded from the disk cache" if result.from_cache else f"computed in {result.seconds:.1f} s"
st.caption(
    f"{corpus_name}: {patterns.sentences:,} lines, {patterns.tokens:,} tokens with the special "
    f"tokens; {info.num_layers} layers × {info.num_heads} heads; {how}."
)
for note in result.notes:
    st.info(note)  # written by explorer.corpus, no user text

labels = statistic_labels(info.start_token, info.end_token)
st.download_button("Per-head statistics (CSV)", lambda: patterns.csv(labels),
                   file_name="head-patterns.csv", mime="text/csv", key="patterns_csv",
                   on_click="ignore", icon=":material/table:")
entropy_low, entropy_high = patterns.scale("entropy")
st.subheader("Each head's habits, mean over the corpus")
st.caption(
    "Colours use fixed scales, so a weak habit looks weak: 0–1 for the shares of attention, "
    f"and 0–log2(n) = 0–{entropy_high:.2f} bits for the entropy, where n = "
    f"{patterns.token_mean_tokens:.1f} tokens is the mean line length, each line weighted by "
    "its tokens as the statistics are (log2(n) is the entropy of uniform attention over n "
    "tokens; no head's mean entropy can exceed it). Hover a cell for its exact value. Previous "
    "and next count the tokens that have such a neighbour. **Click a cell** to open that head "
    "in the Explorer on the current text."
)
columns = st.columns(GRID_COLUMNS)
for number, name in enumerate(STATISTICS):
    low, high = patterns.scale(name)
    unit = "bits" if name == "entropy" else ""
    label = labels[name]
    colour_title = "entropy" if name == "entropy" else "share"
    event = columns[number % GRID_COLUMNS].plotly_chart(
        statistic_grid(getattr(patterns, name), label, colour_title, low, high, unit),
        key=f"patterns_grid_{name}", config=chart_config(f"head-patterns-{name}"),
        on_select="rerun", selection_mode="points",
    )
    open_clicked_head(grid_cell_click(event, info.num_layers, info.num_heads),
                      f"patterns_grid_{name}_handled")

st.subheader("Map of heads")
st.caption(
    "Each point is a head; heads close together attend alike. The distance of two heads is the "
    "Jensen–Shannon divergence of their attention rows, averaged over every token of the "
    "corpus (its square root is a metric), and the map places the heads in two dimensions by "
    "multidimensional scaling, as in Clark et al.'s Figure 6. The axes have no units."
)
if patterns.map_xy.shape[0] == info.num_layers * info.num_heads:
    details = {labels[name]: getattr(patterns, name)
               for name in ("to_start", "to_end", "to_self", "to_previous", "to_next",
                            "entropy")}
    st.plotly_chart(head_map_chart(patterns.map_xy, info.num_layers, info.num_heads, details),
                    key="patterns_map", config=chart_config("head-patterns-map"))
