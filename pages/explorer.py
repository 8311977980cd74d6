"""Explorer page: text with <mask> → top-k tables, tokens, the attention graph (exBERT-style,
click-to-mask), a heatmap, bertviz's views and hidden-state norms."""

from __future__ import annotations

import streamlit as st

from components.attention_graph import attention_graph
from components.bertviz_views import VIEWS as BERTVIZ_VIEWS
from components.bertviz_views import bertviz_view
from components.charts import attention_heatmap, hidden_norms_chart, mean_norm_chart
from components.tables import predictions_frame, text_table
from components.tokens import token_chips
from explorer.graph import COMBINE_MODES, GraphOptions, graph_payload
from explorer.metrics import head_average, hidden_state_norms
from explorer.state import DEFAULT_TEXT, MEAN_HEAD
from ui import keys
from ui.analysis_view import analysis_with_notes
from ui.cache import MAX_TOP_K, cached_token_predictions
from ui.entry import ensure_app_entry
from ui.export import analysis_downloads, file_stem
from ui.graph_state import (
    BERTVIZ_OFF,
    edit_mask,
    on_graph_heads,
    on_graph_mask,
    on_graph_selection,
    prepare_graph_state,
    set_heads,
)
from ui.lm_head import has_prediction_head, no_head_note
from ui.markdown import escape_markdown
from ui.url_state import EXPLORER_FIELDS, page_model, publish_url_state, settle_token

ensure_app_entry()

TOOLTIP_TOP_K = 5  # predictions per token in the graph's tooltips

st.title("Attention explorer")
st.caption(
    "Type text with one or more `<mask>`; see what the model predicts and where each layer "
    "and head looks."
)

loaded = page_model("explorer", EXPLORER_FIELDS)
info = loaded.info

text = st.text_area("Text", value=DEFAULT_TEXT, key=keys.TEXT, height=100,
                    persist_state="session",  # other pages read and set it
                    help=f"Put {info.mask_token} (or <mask>) where a word should be predicted.")
top_k = int(st.number_input("Top-k predictions", min_value=1, max_value=MAX_TOP_K, value=5,
                            key=keys.TOP_K))

analysis = analysis_with_notes(loaded, text)
if analysis is None:
    st.stop()

st.subheader("Predictions")
if not has_prediction_head(loaded):
    no_head_note()
elif not analysis.predictions:
    st.info(f"No {escape_markdown(info.mask_token)} in the text, so no prediction is made. "
            "Attention and hidden states are shown below.")
for number, mask in enumerate(analysis.predictions if has_prediction_head(loaded) else (),
                              start=1):
    st.markdown(f"**Mask {number}** (token {mask.position})")
    text_table(predictions_frame(mask, top_k), key=f"predictions_{number}")
if has_prediction_head(loaded):
    with st.expander("Download the tables and the analysis"):
        analysis_downloads(analysis, top_k, file_stem(analysis.text), key="export")

st.subheader("Tokens")
labels = analysis.labels
token_chips(labels, analysis.special_mask.tolist(), analysis.mask_positions)

st.subheader("Attention")
settle_token(analysis.num_tokens)  # a link's token past the end: a note, and the URL rewritten
prepare_graph_state(analysis)
publish_url_state()  # the URL shows what the graph will show
controls = st.columns([1, 1, 2, 1])
layer = int(controls[0].selectbox("Layer", range(analysis.num_layers), key=keys.LAYER,
                                  format_func=lambda i: f"layer {i + 1}"))
combine = controls[1].radio("Combine heads", COMBINE_MODES, key=keys.COMBINE, horizontal=True,
                            help="Sum or average the selected heads' attention.")
threshold = float(controls[2].slider(
    "Attention share kept per token", min_value=0.05, max_value=1.0, step=0.05,
    key=keys.THRESHOLD,
    help="For each token, draw its strongest edges until they hold this share of its "
         "attention (at most 32 edges per token)."))
hide_special = controls[3].toggle(f"Hide {escape_markdown(loaded.info.special_label)}",
                                  key=keys.HIDE_SPECIAL)
head_column, all_column, none_column = st.columns([6, 1, 1])
heads = head_column.multiselect("Heads", list(range(analysis.num_heads)), key=keys.HEADS,
                                format_func=lambda h: f"head {h + 1}",
                                placeholder="No heads: pick some, or click a head box")
all_column.button("All heads", on_click=set_heads, args=(list(range(analysis.num_heads)),),
                  width="stretch")
none_column.button("No heads", on_click=set_heads, args=([],), width="stretch")

message = st.session_state.pop(keys.MASK_MESSAGE, None)
if message:
    st.warning(message, icon="🎭")
selected = st.session_state[keys.SELECTED_TOKEN]
options = GraphOptions(layer=layer, heads=tuple(heads), combine=combine, threshold=threshold,
                       hide_special=hide_special, selected=selected,
                       selected_side=st.session_state[keys.SELECTED_SIDE])
payload = graph_payload(
    analysis.attentions, labels, analysis.special_mask, analysis.mask_positions, options,
    cached_token_predictions(loaded, analysis, min(top_k, TOOLTIP_TOP_K))
    if has_prediction_head(loaded) else None,  # no head: no tooltip predictions
)
attention_graph(
    payload, key=keys.GRAPH,
    on_selection=on_graph_selection,
    on_heads=lambda: on_graph_heads(analysis.num_heads),
    on_mask=lambda: on_graph_mask(loaded, analysis, unmask=False),
    on_unmask=lambda: on_graph_mask(loaded, analysis, unmask=True),
)
if selected is not None:
    is_mask = selected in analysis.mask_positions
    info_column, button_column = st.columns([4, 1])
    info_column.markdown(f"Selected token **{selected}**: {escape_markdown(labels[selected])}")
    button_column.button(
        "Unmask it" if is_mask else "Mask it", key="mask_selected",
        on_click=edit_mask, args=(loaded, analysis, selected, is_mask),
        width="stretch",
    )

st.markdown("**Heatmap** of one head, or the mean of all heads, of the layer above")
head_options = [MEAN_HEAD, *range(analysis.num_heads)]
head = st.selectbox("Head", head_options, key=keys.HEAD,
                    format_func=lambda h: "mean of all heads" if h == MEAN_HEAD
                    else f"head {h + 1}")
if head == MEAN_HEAD:
    matrix, title = head_average(analysis, layer), f"Layer {layer + 1}, mean of all heads"
else:
    matrix, title = analysis.attentions[layer, head], f"Layer {layer + 1}, head {head + 1}"
st.plotly_chart(attention_heatmap(matrix, labels, title), key="attention_heatmap")

st.subheader("bertviz")
view = st.segmented_control(
    "bertviz view", [BERTVIZ_OFF, *BERTVIZ_VIEWS], key=keys.BERTVIZ_VIEW,
    default=BERTVIZ_OFF, help="bertviz's own views of this input (works offline).")
if view and view != BERTVIZ_OFF:
    bertviz_view(view, loaded, analysis, layer, tuple(heads))

st.subheader("Hidden states")
norms = hidden_state_norms(analysis)
st.plotly_chart(mean_norm_chart(norms), key="mean_norm_chart")
st.plotly_chart(hidden_norms_chart(norms, labels), key="hidden_norms_chart")
