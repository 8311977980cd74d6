"""Explorer page: text with <mask> → top-k tables, tokens, the attention graph (exBERT-style,
click-to-mask), a heatmap, bertviz's views and hidden-state norms."""

from __future__ import annotations

import streamlit as st

from components.attention_graph import attention_graph
from components.bertviz_views import VIEWS as BERTVIZ_VIEWS
from components.bertviz_views import bertviz_view
from components.charts import hidden_norms_chart, mean_norm_chart
from components.tables import predictions_table
from components.tokens import token_chips
from explorer.metrics import hidden_state_norms
from ui import keys
from ui.analysis_view import analysis_with_notes
from ui.attribution_view import attribution_section
from ui.cache import MAX_TOP_K
from ui.entry import ensure_app_entry
from ui.export import analysis_downloads, chart_config, file_stem, image_format_choice
from ui.graph_state import (
    BERTVIZ_OFF,
    count_script_run,
    edit_mask,
    graph_data,
    on_graph_mask,
    on_graph_selection,
    on_graph_view,
    prepare_graph_state,
)
from ui.lm_head import has_prediction_head, no_head_note
from ui.markdown import escape_markdown
from ui.prediction_view import cached_prediction_parts
from ui.reading import shared_text_area
from ui.url_state import EXPLORER_FIELDS, page_model, publish_url_state, settle_token

ensure_app_entry()
count_script_run()  # full runs only: the attention view's controls never come back here

TOOLTIP_TOP_K = 5  # predictions per token in the graph's tooltips
ATTRIBUTION_TOGGLE = "Attribution beside attention: which tokens push a prediction"
ATTRIBUTION_HELP = ("Gradient × input, integrated gradients and contrastive attribution of a "
                    "candidate at a mask, and value-weighted attention (computed on request). "
                    "The attention graph's tooltips then show each token's score. The same "
                    "section is the Layers & heads page's Attribution tab.")
VALUE_TOGGLE = "Value-weighted attention and norm-based rollout"
VALUE_HELP = ("What each head really moves: each weight scaled by the norm of the value vector "
              "it moves (Kobayashi et al. 2020), beside the raw weights.")


def try_this(predicts: bool) -> str:
    """The first line a new user reads: what to do first, in the order the page shows it."""
    first = ("read the model's top guesses for `<mask>`, then " if predicts else "")
    return (f":material/lightbulb: **Try this:** {first}click a token in the graph below to see "
            "which tokens it reads, change the layer, and click a head box to see one head "
            "alone. **All heads** (under the graph) shows every layer and head at once; "
            "**Head patterns** finds heads with a habit; the **Guide** explains every view.")

# Everything above the attention view sits in one container, so the view keeps its place in
# the page's element tree whatever the page shows above it (notes, a "Full sequences"
# expander, attribution): a moved element would be mounted afresh on every new text.
with st.container():
    st.title("Attention explorer")
    loaded = page_model("explorer", EXPLORER_FIELDS)
    image_format_choice()
    info = loaded.info
    predicts = has_prediction_head(loaded)
    st.caption(try_this(predicts))
    if not predicts:
        no_head_note()  # said once, here; the page shows only what works without the head

    text = shared_text_area(loaded)
    top_k = int(st.number_input("Top-k predictions", min_value=1, max_value=MAX_TOP_K, value=5,
                                key=keys.TOP_K)) if predicts else 0

    analysis = analysis_with_notes(loaded, text)
    if analysis is None:
        st.stop()

    if predicts:
        st.subheader("Predictions")
        if not analysis.predictions:
            st.info(f"No {escape_markdown(info.mask_token)} in the text, so no prediction is "
                    "made. Attention and hidden states are shown below.")
        for number, mask in enumerate(analysis.predictions, start=1):
            st.markdown(f"**Mask {number}** (token {mask.position})")
            predictions_table(mask, top_k, analysis.token_texts, key=f"predictions_{number}",
                              parts=cached_prediction_parts(loaded, analysis, number - 1, top_k))
    with st.expander("Download the tables and the analysis" if predicts
                     else "Download the analysis"):
        analysis_downloads(analysis, max(top_k, 1), file_stem(analysis.text), key="export",
                           predicts=predicts)

    st.subheader("Tokens")
    labels = analysis.labels
    token_chips(labels, analysis.special_mask.tolist(), analysis.mask_positions)

    st.subheader("Attention")
    settle_token(analysis.num_tokens)  # a link's token past the end: a note, and the URL rewritten
    prepare_graph_state(analysis)


@st.fragment
def attention_section() -> None:
    """The attention view. Its controls are answered in the browser; what Python must know
    (the view for the URL, the selected token) reruns this fragment only, never the page."""
    data = graph_data(loaded, analysis, TOOLTIP_TOP_K)
    attention_graph(
        data, key=keys.GRAPH,
        on_view=lambda: on_graph_view(analysis.num_layers, analysis.num_heads),
        on_selection=on_graph_selection,
        on_mask=lambda: on_graph_mask(loaded, analysis, unmask=False),
        on_unmask=lambda: on_graph_mask(loaded, analysis, unmask=True),
    )
    # below the graph, always one line: a selection or a refusal never moves the graph
    selected = st.session_state[keys.SELECTED_TOKEN]
    info_column, button_column = st.columns([4, 1], vertical_alignment="center")
    message = st.session_state.pop(keys.MASK_MESSAGE, None)
    if message:
        info_column.warning(escape_markdown(message), icon=":material/block:")
    elif selected is None:
        info_column.markdown("No token selected: click one in the graph.")
    else:
        info_column.markdown(f"Selected token **{selected}**: {escape_markdown(labels[selected])}")
    is_mask = selected is not None and selected in analysis.mask_positions
    if predicts or is_mask:  # without a head a mask fills nothing; unmasking one still helps
        button_column.button(
            "Unmask it" if is_mask else "Mask it", key="mask_selected",
            disabled=selected is None, on_click=edit_mask,
            args=(loaded, analysis, selected, is_mask), width="stretch",
        )
    publish_url_state()


attention_section()

# Below the graph, so the graph stays the first view; the Layers page's Attribution tab shows
# the same section on its own.
if st.toggle(ATTRIBUTION_TOGGLE if predicts else VALUE_TOGGLE, key="show_attribution",
             help=ATTRIBUTION_HELP if predicts else VALUE_HELP):
    attribution_section(loaded, analysis, graph_above=True)

st.subheader("bertviz")
view = st.segmented_control(
    "bertviz view", [BERTVIZ_OFF, *BERTVIZ_VIEWS], key=keys.BERTVIZ_VIEW,
    default=BERTVIZ_OFF, help="bertviz's own views of this input (works offline).")
if view and view != BERTVIZ_OFF:
    bertviz_view(view, loaded, analysis, st.session_state[keys.LAYER],
                 tuple(st.session_state[keys.HEADS]))

st.subheader("Hidden states")
norms = hidden_state_norms(analysis)
st.plotly_chart(mean_norm_chart(norms), key="mean_norm_chart",
                config=chart_config("mean_norm"))
st.plotly_chart(hidden_norms_chart(norms, labels), key="hidden_norms_chart",
                config=chart_config("hidden_norms"))
