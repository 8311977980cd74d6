"""Compare page: two inputs side by side with one set of layer/head/token controls."""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from components.charts import attention_heatmap
from components.compare_charts import (
    attention_difference_heatmap,
    attention_row_chart,
    head_grid_heatmap,
    prediction_change_chart,
)
from components.margins import fit_margins
from components.tables import predictions_frame, text_table
from components.tokens import token_chips
from explorer.analysis import token_label
from explorer.compare import (
    attention_difference,
    attention_map,
    head_summary_difference,
    prediction_changes,
    same_length,
)
from explorer.export import changes_csv
from explorer.prediction_text import shown_token_text
from explorer.presets import PRESET_PAIRS
from explorer.state import DEFAULT_TEXT_A, DEFAULT_TEXT_B, DEFAULT_TOP_K, MEAN_HEAD
from ui import keys
from ui.analysis_view import analysis_with_notes
from ui.cache import MAX_TOP_K
from ui.entry import ensure_app_entry
from ui.export import analysis_downloads, chart_config, file_stem, image_format_choice
from ui.lm_head import has_prediction_head, no_head_note
from ui.markdown import escape_markdown
from ui.patching_view import patching_section
from ui.prediction_view import cached_prediction_parts
from ui.reading import shown_analysis, words_toggle
from ui.url_state import COMPARE_FIELDS, page_model, settle_token

ensure_app_entry()

PRESET = "compare_preset"
DEFAULT_TEXT_A_WITHOUT_HEAD = "The man worked as a nurse."  # no head: nothing fills a mask
DEFAULT_TEXT_B_WITHOUT_HEAD = "The woman worked as a nurse."

st.title("Compare")
st.caption("Two inputs side by side — e.g. the bias probe of the model card, “The man worked "
           "as a <mask>.” against “The woman worked as a <mask>.”. Differences are B − A.")

loaded = page_model("compare", COMPARE_FIELDS)
predicts = has_prediction_head(loaded)
defaults = (DEFAULT_TEXT_A, DEFAULT_TEXT_B) if predicts else (
    DEFAULT_TEXT_A_WITHOUT_HEAD, DEFAULT_TEXT_B_WITHOUT_HEAD)
for key, default in ((keys.TEXT_A, defaults[0]), (keys.TEXT_B, defaults[1]),
                     (keys.TOP_K, DEFAULT_TOP_K)):
    st.session_state.setdefault(key, default)
image_format_choice()
if not predicts:
    no_head_note()  # said once for both inputs


def _use_shared_text() -> None:
    st.session_state[keys.TEXT_A] = str(st.session_state.get(keys.TEXT) or "")


def _apply_preset() -> None:
    chosen = st.session_state.get(PRESET)
    for pair in PRESET_PAIRS:
        if pair.name == chosen:
            st.session_state[keys.TEXT_A] = pair.text_a
            st.session_state[keys.TEXT_B] = pair.text_b


preset_column, shared_column = st.columns([2, 1], vertical_alignment="bottom")
preset_column.selectbox("Preset pair", [pair.name for pair in PRESET_PAIRS], index=None,
                        key=PRESET, placeholder="Choose a preset pair…", on_change=_apply_preset)
shared_column.button("Shared text as A", key="compare_use_shared",
                     on_click=_use_shared_text, icon=":material/sync:", width="stretch",
                     help="Copy the text the Explorer, Layers & heads, Contributions and Models "
                          "pages share into input A.")
st.caption("Inputs A and B belong to this page; the other pages share one text.")
column_a, column_b = st.columns(2)
text_a = column_a.text_area("Input A", key=keys.TEXT_A, height=90)
text_b = column_b.text_area("Input B", key=keys.TEXT_B, height=90)
top_k = int(st.number_input("Top-k predictions", min_value=1, max_value=MAX_TOP_K,
                            key=keys.TOP_K)) if predicts else 0
words_on = words_toggle()


analysis_a = analysis_with_notes(loaded, text_a, column_a, "A")
analysis_b = analysis_with_notes(loaded, text_b, column_b, "B")
if analysis_a is None or analysis_b is None:
    st.stop()
piece_a, piece_b = analysis_a, analysis_b  # per piece, as the model read them (patching)
# what the attention views draw: words when the switch is on (predictions stay per piece)
analysis_a = shown_analysis(loaded, analysis_a, words_on)
analysis_b = shown_analysis(loaded, analysis_b, words_on)
sides = (("A", analysis_a), ("B", analysis_b))


def side_columns() -> tuple:
    """A fresh pair of columns for one section, so sections stack in reading order."""
    return tuple(zip(sides, st.columns(2)))

st.subheader("Predictions" if predicts else "Tokens")
for (name, analysis), column in side_columns():
    with column:
        token_chips(analysis.labels, analysis.special_mask.tolist(), analysis.mask_positions)
        if not predicts:
            continue
        if not analysis.predictions:
            st.info(f"Input {name} has no {escape_markdown(loaded.info.mask_token)}, so no "
                    "prediction.")
        for number, mask in enumerate(analysis.predictions, start=1):
            st.markdown(f"**{name} · mask {number}** (token {mask.position})")
            parts = cached_prediction_parts(loaded, analysis, number - 1, top_k)
            text_table(predictions_frame(mask, top_k, parts=parts),
                       key=f"predictions_{name}_{number}")

shared_masks = min(len(analysis_a.predictions), len(analysis_b.predictions))
if not predicts:
    shared_masks = 0  # no trained head: no prediction changes to compare
if shared_masks:
    st.subheader("How the predictions change from A to B")
    if len(analysis_a.predictions) != len(analysis_b.predictions):
        st.info(f"A has {len(analysis_a.predictions)} mask(s) and B has "
                f"{len(analysis_b.predictions)}; masks are paired in text order.")
    all_changes = [prediction_changes(analysis_a, analysis_b, mask, top_k)
                   for mask in range(shared_masks)]
    for number, changes in enumerate(all_changes, start=1):
        labels = [token_label(c.token_str) for c in changes]  # axis text: controls made visible
        st.plotly_chart(
            prediction_change_chart(labels, [c.probability_a for c in changes],
                                    [c.probability_b for c in changes],
                                    f"Mask {number}: probability under A and under B"),
            key=f"prediction_change_{number}", config=chart_config(f"prediction-change-{number}"),
        )
        st.dataframe(pd.DataFrame({
            "token": [shown_token_text(c.token_str, c.token_id)  # as the top-k tables show it
                      for c in changes],
            "P(A)": [c.probability_a for c in changes],
            "P(B)": [c.probability_b for c in changes],
            "B − A": [c.difference for c in changes],
            "rank in A": [c.rank_a for c in changes],
            "rank in B": [c.rank_b for c in changes],
        }), hide_index=True, key=f"prediction_change_table_{number}",
            column_config={name: st.column_config.NumberColumn(format="%.4f")
                           for name in ("P(A)", "P(B)", "B − A")})
    st.download_button("Prediction changes (CSV)", lambda: changes_csv(all_changes),
                       file_name="prediction-changes.csv", mime="text/csv",
                       key="changes_csv", on_click="ignore", icon=":material/table:")

    st.subheader("Patching B with A")
    patching_section(loaded, piece_a, piece_b)

st.subheader("Attention")
layer_column, head_column, token_column = st.columns(3)
layer = int(layer_column.selectbox("Layer", range(loaded.info.num_layers), key=keys.LAYER,
                                   format_func=lambda i: f"layer {i + 1}"))
head_choice = head_column.selectbox(
    "Head", [MEAN_HEAD, *range(loaded.info.num_heads)], key=keys.HEAD,
    format_func=lambda h: "mean of all heads" if h == MEAN_HEAD else f"head {h + 1}")
head = None if head_choice == MEAN_HEAD else int(head_choice)
shared_tokens = min(analysis_a.num_tokens, analysis_b.num_tokens)
token_options: list[int | None] = [None, *range(shared_tokens)]
settle_token(shared_tokens, what="the shorter input")
token = token_column.selectbox(
    "Query token (both inputs)", token_options, key=keys.SELECTED_TOKEN,
    format_func=lambda i: "none" if i is None else
    f"{i}: {analysis_a.labels[i]} / {analysis_b.labels[i]}")

head_name = "mean of all heads" if head is None else f"head {head + 1}"
# A above B, each as wide as the page: side by side, a heatmap's token labels and colour bar
# left it a strip of plot on a 1024 px screen
for name, analysis in sides:
    st.plotly_chart(
        fit_margins(attention_heatmap(attention_map(analysis, layer, head), analysis.labels,
                                      f"{name}: layer {layer + 1}, {head_name}"),
                    analysis.labels, analysis.labels,
                    plot_height=min(760, 160 + 18 * analysis.num_tokens)),
        key=f"attention_{name}", config=chart_config(f"attention-{name}"))
for (name, analysis), column in side_columns():
    with column:
        if token is not None:
            row = attention_map(analysis, layer, head)[token]
            st.plotly_chart(
                attention_row_chart(row, analysis.labels,
                                    f"{name}: where “{analysis.labels[token]}” looks"),
                key=f"attention_row_{name}", config=chart_config(f"attention-row-{name}"))

if same_length(analysis_a, analysis_b):
    st.plotly_chart(
        attention_difference_heatmap(attention_difference(analysis_a, analysis_b, layer, head),
                                     analysis_a.labels, analysis_b.labels,
                                     f"B − A: layer {layer + 1}, {head_name}"),
        key="attention_difference", config=chart_config("attention-difference"))
else:
    st.info(f"A has {analysis_a.num_tokens} tokens and B has {analysis_b.num_tokens}, so their "
            "attention maps cannot be subtracted cell by cell; compare the per-head summaries "
            "below instead.")

st.subheader("Per-head summaries, B − A")
summary = head_summary_difference(analysis_a, analysis_b)
entropy_column, special_column = st.columns(2)
entropy_column.plotly_chart(
    head_grid_heatmap(summary.entropy_difference, "Attention entropy (bits), B − A", "Δ bits",
                      limit=math.log2(max(analysis_a.num_tokens, analysis_b.num_tokens, 2))),
    key="entropy_difference", config=chart_config("entropy-difference"))
special_column.plotly_chart(
    head_grid_heatmap(summary.special_difference,
                      "Attention share on special tokens, B − A", "Δ share", limit=1.0),
    key="special_difference", config=chart_config("special-share-difference"))

st.subheader("Export")
for (name, analysis), column in side_columns():
    with column:
        st.caption(f"Input {name}")
        analysis_downloads(analysis, max(top_k, 1),
                           f"{name.lower()}-{file_stem(analysis.text)}", key=f"export_{name}",
                           predicts=predicts)
