"""Explorer page: text with <mask> → top-k tables, tokens, attention heatmap, hidden-state norms."""

from __future__ import annotations

import streamlit as st

from components.charts import attention_heatmap, hidden_norms_chart, mean_norm_chart
from components.tables import predictions_frame
from components.tokens import token_chips
from explorer.analysis import InputError, truncation_message
from explorer.metrics import head_average, hidden_state_norms
from explorer.state import MEAN_HEAD
from ui import keys
from ui.cache import MAX_TOP_K, cached_analysis, current_model
from ui.entry import ensure_app_entry
from ui.export import analysis_downloads, file_stem
from ui.url_state import EXPLORER_FIELDS, sync_url_state

ensure_app_entry()

DEFAULT_TEXT = "The capital of France is <mask>."

st.title("Attention explorer")
st.caption(
    "Type text with one or more `<mask>`; see what the model predicts and where each layer "
    "and head looks."
)

loaded = current_model()
if loaded is None:
    st.stop()
info = loaded.info
st.sidebar.caption(
    f"{info.model_type}: {info.num_layers} layers × {info.num_heads} heads, hidden "
    f"{info.hidden_size}, {info.num_parameters:,} parameters, at most "
    f"{info.max_tokens} tokens ({info.source})."
)
sync_url_state("explorer", loaded, EXPLORER_FIELDS)

text = st.text_area("Text", value=DEFAULT_TEXT, key=keys.TEXT, height=100,
                    persist_state="session",  # other pages read and set it
                    help=f"Put {info.mask_token} (or <mask>) where a word should be predicted.")
top_k = int(st.number_input("Top-k predictions", min_value=1, max_value=MAX_TOP_K, value=5,
                            key=keys.TOP_K))

try:
    analysis = cached_analysis(loaded, text)
except InputError as error:
    st.warning(str(error), icon="✍️")
    st.stop()

for note in analysis.notes:
    st.info(note)
if analysis.truncated:
    st.warning(truncation_message(analysis, info.max_tokens), icon="✂️")

st.subheader("Predictions")
if not analysis.predictions:
    st.info(f"No {info.mask_token} in the text, so no prediction is made. Attention and hidden "
            "states are shown below.")
for number, mask in enumerate(analysis.predictions, start=1):
    st.markdown(f"**Mask {number}** (token {mask.position})")
    st.table(predictions_frame(mask, top_k), hide_index=True)
with st.expander("Download the tables and the analysis"):
    analysis_downloads(analysis, top_k, file_stem(analysis.text), key="export")

st.subheader("Tokens")
labels = analysis.labels
token_chips(labels, analysis.special_mask.tolist(), analysis.mask_positions)

st.subheader("Attention")
layer_column, head_column = st.columns(2)
layer = int(layer_column.selectbox("Layer", range(analysis.num_layers), key=keys.LAYER,
                                   format_func=lambda i: f"layer {i + 1}"))
head_options = [MEAN_HEAD, *range(analysis.num_heads)]
head = head_column.selectbox("Head", head_options, key=keys.HEAD,
                             format_func=lambda h: "mean of all heads" if h == MEAN_HEAD
                             else f"head {h + 1}")
if head == MEAN_HEAD:
    matrix, title = head_average(analysis, layer), f"Layer {layer + 1}, mean of all heads"
else:
    matrix, title = analysis.attentions[layer, head], f"Layer {layer + 1}, head {head + 1}"
st.plotly_chart(attention_heatmap(matrix, labels, title), key="attention_heatmap")

st.subheader("Hidden states")
norms = hidden_state_norms(analysis)
st.plotly_chart(mean_norm_chart(norms), key="mean_norm_chart")
st.plotly_chart(hidden_norms_chart(norms, labels), key="hidden_norms_chart")
