"""Layers & heads: logit lens, hidden-state geometry, rollout and flow, head summaries, ablation."""

from __future__ import annotations

import streamlit as st

from components.charts import hidden_norms_chart, mean_norm_chart
from components.compare_charts import head_grid_heatmap
from components.layer_charts import (
    head_grid,
    head_grid_click,
    layer_names,
    layer_token_heatmap,
    lens_chart,
    projection_scatter,
    segment_strip,
    statistic_range,
    target_rank_chart,
    token_matrix_heatmap,
)
from components.layer_tables import ablation_frame, lens_frame
from components.tables import text_table
from explorer.ablation import AblationError, Head
from explorer.analysis import Analysis, token_label
from explorer.corpus import CorpusError
from explorer.hidden_stats import consecutive_cosine, token_cosine
from explorer.metrics import hidden_state_norms
from explorer.prediction_text import shown_token_text
from ui import keys
from ui.analysis_view import analysis_with_notes
from ui.attribution_view import ATTRIBUTION_WIDGET_KEYS, attribution_section
from ui.cache import MAX_TOP_K
from ui.entry import ensure_app_entry
from ui.export import chart_config, image_format_choice
from ui.head_means_cache import corpus_head_means
from ui.jobs import JobRefused
from ui.layers_cache import cached_ablation, cached_flow, cached_lens, cached_summaries
from ui.lm_head import has_prediction_head, no_head_note
from ui.markdown import escape_markdown
from ui.open_head import open_clicked_head, open_head_in_explorer
from ui.reading import (
    cached_crossing,
    pair_texts,
    piece_of_word,
    segment_suffix,
    shared_text_area,
    shown_analysis,
    words_toggle,
)
from ui.shared_state import keep_widget_state
from ui.url_state import LAYERS_FIELDS, page_model, publish_url_state, settle_token

ensure_app_entry()

# Attention flow runs one max-flow per token and layer; above this many tokens it is skipped.
# (No bare string literals at module level in page files: Streamlit "magic" would show them.)
FLOW_MAX_TOKENS = 128

LENS_TOP_K = "layers_lens_top_k"
TOKEN_TEXT = "layers_token_text"  # the text the selected token belongs to
TARGET = "layers_target"
COSINE_LAYER = "layers_cosine_layer"
ROLLOUT_LAYER = "layers_rollout_layer"
STATISTIC = keys.STATISTIC
GRID = "layers_head_grid"
GRID_HANDLED = "layers_head_grid_handled"
OPEN_LAYER = "layers_open_layer"
OPEN_HEAD = "layers_open_head"
ABLATED = keys.ABLATED
ABLATION_MEAN = keys.ABLATION_MEAN
MEAN_CHOICES = {"text": "this text's tokens", "corpus": "the bundled corpus"}
TAB_WIDGET_KEYS = (LENS_TOP_K, TARGET, COSINE_LAYER, ROLLOUT_LAYER, STATISTIC, OPEN_LAYER,
                   OPEN_HEAD, ABLATED, ABLATION_MEAN, *ATTRIBUTION_WIDGET_KEYS)
TABS = {"lens": "Per-layer predictions", "hidden": "Hidden states",
        "attention": "Attention summaries", "ablation": "Head ablation",
        "attribution": "Attribution"}
NEED_HEAD = ("lens", "ablation")  # tabs that read predictions: not offered without the head


def _default_token(analysis: Analysis) -> int:
    """The first mask, else the first word."""
    return analysis.mask_positions[0] if analysis.mask_positions else min(
        1, analysis.num_tokens - 1)


def selected_token(analysis: Analysis) -> int:
    """The token picker; the selection defaults to the first mask (else the first word) and
    goes back to it when the text changes."""
    default = _default_token(analysis)
    current = st.session_state.get(keys.SELECTED_TOKEN)
    text_changed = st.session_state.get(TOKEN_TEXT) not in (None, analysis.text)
    if text_changed or not isinstance(current, int) or not 0 <= current < analysis.num_tokens:
        st.session_state[keys.SELECTED_TOKEN] = default
    st.session_state[TOKEN_TEXT] = analysis.text
    labels = analysis.labels
    return int(st.selectbox(
        "Token", range(analysis.num_tokens), key=keys.SELECTED_TOKEN,
        format_func=lambda i: f"{i}: {labels[i]}" + segment_suffix(analysis, i) + (
            " (mask)" if i in analysis.mask_positions else ""),
        help="The token whose per-layer predictions, rollout and flow are shown.",
    ))


def target_token_id(loaded, word: str) -> tuple[int | None, str | None]:
    """A vocabulary id for what the user typed, or (None, why not)."""
    tokenizer = loaded.tokenizer
    for candidate in (" " + word.strip(), word.strip(), word):
        ids = tokenizer.encode(candidate, add_special_tokens=False)
        if len(ids) == 1:
            return int(ids[0]), None
    return None, f"{word!r} is not one token of this model's vocabulary; type a single token."


def lens_section(loaded, analysis: Analysis, position: int) -> None:
    st.subheader("Per-layer predictions (logit lens)")
    if not has_prediction_head(loaded):  # the lens reads hidden states through the LM head
        no_head_note()
        return
    st.caption(
        "Each layer's hidden state of the selected token passed through the model's own "
        "masked-LM head (dense, gelu, layer norm, decoder). The last row is the model's own "
        "prediction; emb = the embedding layer."
    )
    st.session_state.setdefault(LENS_TOP_K, 5)  # no value=: the value may be kept state
    k = int(st.number_input("Top-k per layer", min_value=1, max_value=MAX_TOP_K, key=LENS_TOP_K))
    lens = cached_lens(loaded, analysis, position)
    tokens = [[token_label(shown_token_text(text, int(token_id)))  # [id N]: undecodable
               for text, token_id in zip(row[:k], ids[:k])]
              for row, ids in zip(lens.top_tokens, lens.top_ids)]
    st.dataframe(lens_frame(lens.top_probs[:, :k], tokens, k), hide_index=True)
    st.plotly_chart(lens_chart(lens.top_probs[:, :k], tokens), key="lens_chart",
                    config=chart_config("lens_chart"))
    final_top = token_label(lens.top_tokens[-1][0]).strip() or lens.top_tokens[-1][0]
    word = st.text_input("Target token", key=TARGET, placeholder=final_top,
                         help="Its rank at every layer; empty = the final layer's top token.")
    token_id, problem = (int(lens.top_ids[-1, 0]), None) if not word.strip() else \
        target_token_id(loaded, word)
    if token_id is None:
        st.warning(escape_markdown(problem or ""), icon=":material/edit_note:")
        return
    shown = loaded.tokenizer.decode([token_id])
    st.plotly_chart(target_rank_chart(lens.rank_of(token_id), lens.probability_of(token_id),
                                      shown), key="target_rank_chart",
        config=chart_config("target_rank_chart"))


def hidden_section(loaded, analysis: Analysis) -> None:
    st.subheader("Hidden states")
    labels = analysis.labels
    hidden = analysis.hidden_states
    norms = hidden_state_norms(analysis)
    left, right = st.columns(2)
    left.plotly_chart(mean_norm_chart(norms), key="layers_mean_norm",
        config=chart_config("layers_mean_norm"))
    right.plotly_chart(hidden_norms_chart(norms, labels), key="layers_norms",
        config=chart_config("layers_norms"))
    steps = [f"{a}→{b}" for a, b in zip(layer_names(hidden.shape[0]),
                                        layer_names(hidden.shape[0])[1:])]
    st.plotly_chart(layer_token_heatmap(
        consecutive_cosine(hidden), labels, "Cosine similarity of each token between "
        "consecutive layers", "cos", steps, zmin=-1.0, zmax=1.0, colorscale="RdBu",
    ), key="consecutive_cosine",
        config=chart_config("consecutive_cosine"))
    layer = int(st.selectbox("Layer for token × token similarity", range(hidden.shape[0]),
                             index=hidden.shape[0] - 1, key=COSINE_LAYER,
                             format_func=lambda i: layer_names(hidden.shape[0])[i]))
    st.plotly_chart(token_matrix_heatmap(
        token_cosine(hidden, layer), labels,
        f"Token × token cosine similarity at {layer_names(hidden.shape[0])[layer]}", "cos",
        zmin=-1.0, zmax=1.0, colorscale="RdBu",
    ), key="token_cosine",
        config=chart_config("token_cosine"))
    projection = cached_summaries(loaded, analysis)[2]
    st.plotly_chart(projection_scatter(projection.coords, labels, projection.explained),
                    key="projection",
        config=chart_config("projection"))


def attention_section(loaded, analysis: Analysis, position: int) -> None:
    st.subheader("Attention rollout and flow")
    st.caption(
        "Rollout (Abnar & Zuidema 2020): head-averaged attention plus the residual path "
        "(0.5·A + 0.5·I), multiplied from layer 1 up; row q at layer l is how much of token "
        "q's state after layer l comes from each input token (rows sum to 1). Flow: the "
        "maximum flow through the same graph from the selected token down to each input token "
        "(exact max-flow), divided by the token's total flow as in the authors' code, so each "
        "row sums to 1 and shares rollout's 0–1 scale."
    )
    summary, rolled, _ = cached_summaries(loaded, analysis)
    labels = analysis.labels
    names = layer_names(analysis.num_layers + 1)[1:]
    st.plotly_chart(layer_token_heatmap(
        rolled[:, position], labels, f"Rollout of token {position} ({labels[position]}) per "
        "layer", "share", names, zmin=0.0, colorscale="Blues",
    ), key="rollout_token",
        config=chart_config("rollout_token"))
    if analysis.num_tokens <= FLOW_MAX_TOKENS:
        flow = cached_flow(loaded, analysis, position)
        st.plotly_chart(layer_token_heatmap(
            flow, labels, f"Attention flow of token {position} ({labels[position]}) per layer, "
            "normalised (rows sum to 1)", "share", names, zmin=0.0, zmax=1.0, colorscale="Purples",
        ), key="flow_token",
        config=chart_config("flow_token"))
    else:
        st.info(f"Attention flow is computed for texts of at most {FLOW_MAX_TOKENS} tokens (one "
                f"max-flow per token and layer); this text has {analysis.num_tokens}. Rollout "
                "is shown for every length.")
    layer = int(st.selectbox("Rollout matrix after layer", range(analysis.num_layers),
                             index=analysis.num_layers - 1, key=ROLLOUT_LAYER,
                             format_func=lambda i: f"layer {i + 1}"))
    st.plotly_chart(token_matrix_heatmap(
        rolled[layer], labels, f"Attention rollout after layer {layer + 1}", "share",
        zmin=0.0, row_title="query", column_title="input token",
    ), key="rollout_matrix",
        config=chart_config("rollout_matrix"))

    st.subheader("Heads at a glance")
    statistics = summary.as_dict(loaded.info.start_token, loaded.info.end_token)
    if st.session_state.get(STATISTIC) not in statistics:
        st.session_state.pop(STATISTIC, None)  # e.g. "to [CLS]" kept from another model
    name = st.selectbox("Statistic", list(statistics), key=STATISTIC,
                        help="Mean over query tokens. Entropy 0 = one token, "
                             "log2(tokens) = uniform. Colours use a fixed scale (0–1 for "
                             "shares, 0–log2(tokens) bits for entropy); hover for the value.")
    low, high = statistic_range(name, analysis.num_tokens)
    event = st.plotly_chart(
        head_grid(statistics[name], f"{name} per head — click a head to open it", name,
                  zmin=low, zmax=high),
        key=GRID, on_select="rerun", selection_mode="points", config=chart_config("head-grid"),
    )
    open_clicked_head(head_grid_click(event, analysis.num_layers, analysis.num_heads),
                      GRID_HANDLED)
    pick_layer, pick_head, go = st.columns([2, 2, 3], vertical_alignment="bottom")
    chosen_layer = pick_layer.selectbox("Layer", range(analysis.num_layers), key=OPEN_LAYER,
                                        format_func=lambda i: f"layer {i + 1}")
    chosen_head = pick_head.selectbox("Head", range(analysis.num_heads), key=OPEN_HEAD,
                                      format_func=lambda h: f"head {h + 1}")
    if go.button("Open in the attention view", key="layers_open_button"):
        open_head_in_explorer(chosen_layer, chosen_head)
    if analysis.segment is not None:
        crossing_section(loaded, analysis)


def crossing_section(loaded, analysis: Analysis) -> None:
    st.subheader("Attention between the two texts of the pair")
    st.caption("Per head: the mean, over the query tokens of one text, of the attention mass on "
               "the other text's tokens (special tokens belong to neither; what is left of "
               "each row went to them or stayed within the text). Fixed scale 0–1.")
    crossing = cached_crossing(loaded, analysis)
    left, right = st.columns(2)
    left.plotly_chart(head_grid_heatmap(crossing.a_to_b, "A → B: attention from A to B",
                                        "share", diverging=False, limit=1.0),
                      key="crossing_a_to_b", config=chart_config("crossing-a-to-b"))
    right.plotly_chart(head_grid_heatmap(crossing.b_to_a, "B → A: attention from B to A",
                                         "share", diverging=False, limit=1.0),
                       key="crossing_b_to_a", config=chart_config("crossing-b-to-a"))


def ablation_section(loaded, analysis: Analysis) -> None:
    st.subheader("Head ablation")
    st.caption(
        "Switch heads off: their share of each layer's attention output is removed (their "
        "context vectors are zeroed before the output projection, as head_mask = 0 did) and the "
        "model runs again on the same tokens."
    )
    every_head: list[Head] = [(layer, head) for layer in range(analysis.num_layers)
                              for head in range(analysis.num_heads)]
    chosen = st.multiselect("Heads to switch off", every_head, key=ABLATED,
                            format_func=lambda lh: f"L{lh[0] + 1} H{lh[1] + 1}")
    if not has_prediction_head(loaded):  # ablation compares predictions
        no_head_note()
        return
    if not analysis.predictions:
        st.info(f"No {escape_markdown(loaded.info.mask_token)} in the text: ablation compares "
                "predictions, so add a mask.")
        return
    k = int(st.session_state.get(keys.TOP_K) or 5)
    k = max(1, min(k, MAX_TOP_K))
    which = st.radio("Mean-ablation uses the mean over", list(MEAN_CHOICES), key=ABLATION_MEAN,
                     format_func=MEAN_CHOICES.get, horizontal=True,
                     help="This text: the head's mean output over this text's own tokens (a "
                          "short text's mean is mostly that text). The bundled corpus: its mean "
                          "over ordinary sentences, computed once per model.")
    corpus_means = None
    if which == "corpus":
        try:
            corpus_means = corpus_head_means(loaded)
        except (JobRefused, CorpusError, AblationError) as error:
            st.warning(escape_markdown(str(error)))
            return
        mean_name = f"Mean-ablation (corpus mean: {corpus_means.describe()})"
    else:
        mean_name = "Mean-ablation (mean over this text's tokens)"
    st.caption("Zero-ablation (left) sets the heads' outputs to zero, a value they never "
               "produce; mean-ablation (right) sets them to their mean (over this text's "
               "tokens or over the bundled corpus, as chosen above), which keeps what the head "
               "writes on average and removes what it writes about each token here. Where the "
               "two disagree, the zero is doing the work.")
    zeroed = cached_ablation(loaded, analysis, tuple(chosen), "zero")
    averaged = cached_ablation(loaded, analysis, tuple(chosen),
                               "corpus" if corpus_means is not None else "mean", corpus_means)
    for number, (plain, zero, mean) in enumerate(zip(analysis.predictions, zeroed, averaged),
                                                 start=1):
        st.markdown(f"**Mask {number}** (token {plain.position}) — "
                    f"{len(chosen)} head(s) off")
        zero_column, mean_column = st.columns(2)
        with zero_column:
            st.caption("Zero-ablation")
            text_table(ablation_frame(plain, zero, k), key=f"ablation_{number}")
        with mean_column:
            st.caption(mean_name)  # our own words and numbers, no user text
            text_table(ablation_frame(plain, mean, k), key=f"ablation_mean_{number}")


st.title("Layers & heads")
st.caption("What each layer predicts, how hidden states move, where attention flows, and what "
           "happens when heads are switched off.")

loaded = page_model("layers", LAYERS_FIELDS)

predicts = has_prediction_head(loaded)
if not predicts:
    no_head_note()  # said once: the tabs that need the head are not offered
text = shared_text_area(
    loaded, extra_help="A sentence pair: type "
    f"A {loaded.info.end_token}{loaded.info.end_token} B (or A [SEP] B), or use the second "
    "text below.")
second = st.text_input("Second text of a sentence pair (optional)", key=keys.TEXT_PAIR,
                       help="Fill it to analyse the pair (text, second text) exactly as the "
                            "tokenizer builds it (BERT reads the second text as token type 1).")
words_on = words_toggle()
image_format_choice()
text_a, text_b = pair_texts(loaded, text, second)
token_analysis = analysis_with_notes(loaded, text_a, text_pair=text_b)
if token_analysis is None:
    st.stop()
analysis = shown_analysis(loaded, token_analysis, words_on)
if analysis.segment is not None:
    st.plotly_chart(segment_strip(analysis.labels, analysis.segment), key="segment_strip",
                    config=chart_config("segments"))

settle_token(analysis.num_tokens, fallback=_default_token(analysis))
position = selected_token(analysis)
piece = piece_of_word(loaded, token_analysis, position) if words_on else position
shown_tabs = {name: title for name, title in TABS.items()
              if predicts or name not in NEED_HEAD}
if st.session_state.get(keys.LAYERS_TAB) not in shown_tabs.values():
    st.session_state.pop(keys.LAYERS_TAB, None)
publish_url_state()  # the URL shows the token the page shows
# Only the open tab runs (the others' flows, ablation pass, charts are not computed); the
# closed tabs' controls keep their values for when they are opened again. Without a masked-LM
# head the tabs that read predictions are not offered.
keep_widget_state(TAB_WIDGET_KEYS)
tabs = dict(zip(shown_tabs, st.tabs(list(shown_tabs.values()), key=keys.LAYERS_TAB,
                                    on_change="rerun")))
SECTIONS = {
    "lens": lambda: lens_section(loaded, token_analysis, piece),
    "hidden": lambda: hidden_section(loaded, token_analysis),
    "attention": lambda: attention_section(loaded, analysis, position),
    "ablation": lambda: ablation_section(loaded, token_analysis),
    "attribution": lambda: attribution_section(loaded, token_analysis),
}
for name, tab in tabs.items():
    if not tab.open:
        continue
    with tab:
        if name == "lens" and words_on and piece != position:
            st.caption(f"Words are on: the lens reads the word's first piece (token {piece}).")
        SECTIONS[name]()
publish_url_state()  # the tab and statistic the page shows are in the link
