"""Attribution beside attention, as one reusable section: ``attribution_section(loaded,
analysis)`` (a fragment: its widgets rerun only this section).

- Attribution of a candidate's log-probability at a chosen ``<mask>`` to every input token
  (:func:`explorer.attribution.attribute`: gradient × input or integrated gradients, optionally
  contrastive), computed on request with a progress bar, kept in the one budgeted cache, shown
  as a token heat strip with the completeness check, exportable as CSV and JSON.
- Value-weighted attention (Kobayashi et al. 2020) beside the raw weights for a chosen layer and
  head, and the norm-based rollout beside plain rollout.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from components.charts import paired_heatmap
from components.heat_strip import token_heat_strip
from explorer.analysis import Analysis, MaskPredictions
from explorer.attention_stats import rollout
from explorer.attribution import (
    BASELINES,
    AttributionError,
    TokenAttribution,
    attribute,
    layer_value_weighted_attention,
    norm_rollout,
    value_weighted_attention,
)
from explorer.cost import (
    attribution_cost,
    max_attribution_steps,
    max_job_token_passes,
    value_norms_cost,
)
from explorer.model import Loaded
from ui.cache import held_in_budget
from ui.export import chart_config, file_stem
from ui.jobs import JobRefused, computed
from ui.keys import SHOWN_ATTRIBUTION, CacheKey, cache_key
from ui.lm_head import has_prediction_head
from ui.markdown import escape_markdown

MASK = "attribution_mask"
CANDIDATE = "attribution_candidate"
CONTRAST = "attribution_contrast"
METHOD = "attribution_method"
BASELINE = "attribution_baseline"
STEPS = "attribution_steps"
VALUE_LAYER = "attribution_value_layer"
VALUE_HEAD = "attribution_value_head"
ROLLOUT_LAYER = "attribution_rollout_layer"
ATTRIBUTION_WIDGET_KEYS = (MASK, CANDIDATE, CONTRAST, METHOD, BASELINE, STEPS, VALUE_LAYER,
                           VALUE_HEAD, ROLLOUT_LAYER)

METHOD_NAMES = {"integrated_gradients": "integrated gradients",
                "gradient_x_input": "gradient × input"}
BASELINE_HELP = (
    "What “no input” means for integrated gradients. pad: every word replaced by the <pad> "
    "embedding (default); mask: every word hidden as <mask>; zero: every word's embedding set "
    "to 0 (off the embedding manifold). Special tokens keep their embedding, so the baseline is "
    "still a well-formed input and they get no attribution."
)
RELATIVE_ERROR_OK = 0.01
"""Completeness is reported as met when |Σ scores − (f(x) − f(x'))| ≤ 1 % of |f(x) − f(x')|."""
WHOLE_LAYER = "layer"


def _attribution_key(loaded: Loaded, analysis: Analysis, position: int, target: int,
                     contrast: int | None, method: str, baseline: str, steps: int) -> CacheKey:
    return cache_key("attribution", loaded, analysis, position, target, contrast, method,
                     baseline if method == "integrated_gradients" else None,
                     steps if method == "integrated_gradients" else None)


def _candidate_name(mask: MaskPredictions, token_id: int) -> str:
    for prediction in mask.predictions:
        if prediction.token_id == token_id:
            return f"{prediction.token_str.strip() or prediction.token_str} " \
                   f"(p = {prediction.score:.3f})"
    return str(token_id)


def attribution_rows(analysis: Analysis, result: TokenAttribution) -> list[dict[str, object]]:
    return result.as_rows(analysis.tokens)


def attribution_csv(analysis: Analysis, result: TokenAttribution) -> str:
    buffer = io.StringIO()
    pd.DataFrame(attribution_rows(analysis, result)).to_csv(buffer, index=False)
    return buffer.getvalue()


def attribution_json(analysis: Analysis, result: TokenAttribution, target: str,
                     contrast: str | None) -> str:
    return json.dumps({
        "text": analysis.text, "method": result.method, "mask_position": result.position,
        "target": target, "target_id": result.target_id, "contrast": contrast,
        "contrast_id": result.contrast_id, "baseline": result.baseline, "steps": result.steps,
        "f_input": result.value, "f_baseline": result.baseline_value,
        "completeness_error": result.completeness_error,
        "tokens": attribution_rows(analysis, result),
    }, ensure_ascii=False, indent=1)


def _show_attribution(analysis: Analysis, result: TokenAttribution, target: str,
                      contrast: str | None) -> None:
    what = f"log p({target})" + (f" − log p({contrast})" if contrast else "")
    token_heat_strip(analysis.labels, result.scores,
                     caption=f"{METHOD_NAMES[result.method]} of {what}")
    if result.completeness_error is None:
        st.caption(escape_markdown(
            f"f(x) = {what} = {result.value:+.4f}. Gradient × input has no completeness "
            f"property; the scores sum to {float(np.sum(result.scores)):+.4f}."))
    else:
        relative = result.relative_completeness_error or 0.0
        message = escape_markdown(
            f"Completeness: the scores sum to {float(np.sum(result.scores)):+.4f}; "
            f"f(x) − f(baseline) = {result.value:+.4f} − ({result.baseline_value:+.4f}) = "
            f"{result.completeness_gap:+.4f}; error {result.completeness_error:+.2e} "
            f"({relative:.2%} of the gap, {result.steps} steps).")
        if relative <= RELATIVE_ERROR_OK:
            st.success(message, icon=":material/check_circle:")
        else:
            st.warning(message + " More steps bring the error down.", icon=":material/warning:")
    stem = file_stem(analysis.text)
    left, right = st.columns(2)
    left.download_button("Attribution (CSV)", lambda: attribution_csv(analysis, result),
                         file_name=f"{stem}-attribution.csv", mime="text/csv",
                         key="attribution_csv", on_click="ignore", icon=":material/table:")
    right.download_button("Attribution (JSON)",
                          lambda: attribution_json(analysis, result, target, contrast),
                          file_name=f"{stem}-attribution.json", mime="application/json",
                          key="attribution_json", on_click="ignore",
                          icon=":material/data_object:")


def _attribution_part(loaded: Loaded, analysis: Analysis, graph_above: bool) -> None:
    st.markdown("**Which input tokens push the prediction** — attribution of a candidate's "
                "log-probability at a mask to each input token (its word embedding).")
    if not analysis.predictions:
        st.info(f"No {escape_markdown(loaded.info.mask_token)} in the text: attribution "
                "explains a prediction at a mask, so add one.")
        return
    masks = analysis.predictions
    first, second, third = st.columns(3)
    mask_number = int(first.selectbox(
        "Mask", range(len(masks)), key=MASK,
        format_func=lambda i: f"mask {i + 1} (token {masks[i].position})"))
    mask = masks[mask_number]
    ids = [p.token_id for p in mask.predictions]
    if st.session_state.get(CANDIDATE) not in ids:
        st.session_state[CANDIDATE] = ids[0]  # top-1, and again when the text changes
    if st.session_state.get(CONTRAST) not in (None, *ids):
        st.session_state[CONTRAST] = None
    target = int(second.selectbox("Candidate", ids, key=CANDIDATE,
                                  format_func=lambda i: _candidate_name(mask, i)))
    contrast = third.selectbox(
        "Rather than (contrast)", [None, *[i for i in ids if i != target]], key=CONTRAST,
        format_func=lambda i: "— none —" if i is None else _candidate_name(mask, i),
        help="Contrastive explanation (Yin & Neubig 2022): attribute log p(candidate) − "
             "log p(contrast), e.g. why “nurse” rather than “carpenter”.")
    method_column, baseline_column, steps_column = st.columns(3)
    method = str(method_column.radio("Method", tuple(METHOD_NAMES), key=METHOD,
                                     format_func=METHOD_NAMES.get, horizontal=True))
    integrated = method == "integrated_gradients"
    baseline = str(baseline_column.selectbox("Baseline", BASELINES, key=BASELINE,
                                             help=BASELINE_HELP, disabled=not integrated))
    most_steps = max_attribution_steps(analysis.num_tokens)
    st.session_state.setdefault(STEPS, min(32, most_steps))
    if int(st.session_state[STEPS]) > most_steps:  # e.g. kept from a shorter text
        st.session_state[STEPS] = most_steps
    steps = int(steps_column.number_input(
        "Steps", min_value=1, max_value=most_steps, key=STEPS, disabled=not integrated,
        help="Points on the path from the baseline to the input (Gauss–Legendre quadrature); "
             "each costs one forward and backward pass. At most "
             f"{most_steps} for this text's {analysis.num_tokens} tokens: this server runs at "
             f"most {max_job_token_passes():,} token-passes per request (tokens × 3 per "
             "step)."))
    key = _attribution_key(loaded, analysis, mask.position, target, contrast, method,
                           baseline, steps)
    result = held_in_budget(key)
    if result is None:
        if not st.button("Compute attribution", key="attribution_run",
                         icon=":material/play_arrow:"):
            st.caption("Computed on request (integrated gradients: one forward and backward "
                       "pass per step) and cached.")
            return
        try:
            result = computed(
                key, attribution_cost(analysis.num_tokens, method, steps),
                lambda report: attribute(
                    loaded, position=mask.position, target_id=target, contrast_id=contrast,
                    method=method, baseline=baseline, steps=steps, progress=report,
                    **analysis.model_inputs()),
                "attribution", "{done} of {total} steps")
        except (AttributionError, JobRefused) as error:
            st.warning(escape_markdown(str(error)))
            return
    target_name = _candidate_name(mask, target).split(" (p")[0]
    contrast_name = None if contrast is None else _candidate_name(mask, contrast).split(" (p")[0]
    what = f"log p({target_name})" + (f" − log p({contrast_name})" if contrast_name else "")
    _publish_for_graph(key, f"{METHOD_NAMES[method]} of {what} at mask {mask_number + 1} "
                            f"(token {mask.position})", graph_above)
    _show_attribution(analysis, result, target_name, contrast_name)  # type: ignore[arg-type]


def _publish_for_graph(key: tuple, label: str, graph_above: bool) -> None:
    """Point the attention graph's tooltips at this (cached) result. The graph reads it from the
    cache on its next run; when only this section ran (a fragment run), or the graph was drawn
    above it in this run, the page runs once more so that the graph shows it now."""
    shown = {"key": key, "label": label}
    if st.session_state.get(SHOWN_ATTRIBUTION) == shown:
        return
    st.session_state[SHOWN_ATTRIBUTION] = shown
    context = get_script_run_ctx()
    if graph_above or (context is not None and context.fragment_ids_this_run):
        st.rerun(scope="app")


def cached_value_norms(loaded: Loaded, analysis: Analysis
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``weighted[layer, head, query, key]`` = ‖α f_h(x)‖, ``combined[layer, query, key]`` (the
    whole layer), their norm-based rollout and plain ``rollout[layer, query, key]``."""
    def compute(progress: object) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        weighted = value_weighted_attention(loaded, analysis.attentions, analysis.hidden_states)
        combined = layer_value_weighted_attention(loaded, analysis.attentions,
                                                  analysis.hidden_states)
        return weighted, combined, norm_rollout(combined), rollout(analysis.attentions)
    return computed(cache_key("value norms", loaded, analysis),
                    value_norms_cost(analysis.num_tokens), compute, "value-weighted attention")


def _value_part(loaded: Loaded, analysis: Analysis) -> None:
    st.markdown("**Value-weighted attention** (Kobayashi et al. 2020): a weight α on a token "
                "whose transformed value f(x) is small moves little, so ‖α·f(x)‖ shows what "
                "each head really moves. Beside it, the raw weights.")
    try:
        weighted, combined, normed_rollout, plain_rollout = cached_value_norms(loaded, analysis)
    except (AttributionError, JobRefused) as error:
        st.info(escape_markdown(str(error)))
        return
    layers, heads = analysis.num_layers, analysis.num_heads
    left, right = st.columns(2)
    layer = int(left.selectbox("Layer", range(layers), key=VALUE_LAYER,
                               format_func=lambda i: f"layer {i + 1}"))
    head = right.selectbox("Head", [WHOLE_LAYER, *range(heads)], key=VALUE_HEAD,
                           format_func=lambda h: "all heads together" if h == WHOLE_LAYER
                           else f"head {h + 1}")
    labels = analysis.labels
    if head == WHOLE_LAYER:
        raw = analysis.attentions[layer].mean(axis=0)
        moved = combined[layer]
        raw_title = f"Weights: layer {layer + 1}, mean of all heads"
        moved_title = f"‖Σ_h α·f_h(x)‖: layer {layer + 1}, all heads"
    else:
        raw = analysis.attentions[layer, int(head)]
        moved = weighted[layer, int(head)]
        raw_title = f"Weights: layer {layer + 1}, head {int(head) + 1}"
        moved_title = f"Weights × value norm ‖α·f(x)‖: layer {layer + 1}, head {int(head) + 1}"
    first, second = st.columns(2)
    first.plotly_chart(paired_heatmap(raw, labels, raw_title, "weight"),
                       key="attribution_raw", config=chart_config("attention-weights"))
    second.plotly_chart(paired_heatmap(moved, labels, moved_title, "‖α f(x)‖"),
                        key="attribution_value_weighted",
                        config=chart_config("value-weighted-attention"))
    st.markdown("**Norm-based rollout beside plain rollout**: both multiply the layers' "
                "matrices from layer 1 up with the residual path (0.5·A + 0.5·I); the norm-based "
                "one uses each layer's ‖Σ_h α·f_h(x)‖ with rows normalised to 1.")
    after = int(st.selectbox("Rollout after layer", range(layers), index=layers - 1,
                             key=ROLLOUT_LAYER, format_func=lambda i: f"layer {i + 1}"))
    first, second = st.columns(2)
    first.plotly_chart(paired_heatmap(plain_rollout[after], labels,
                                      f"Rollout after layer {after + 1}", "share",
                                      column_title="input token"),
                       key="attribution_plain_rollout", config=chart_config("rollout"))
    second.plotly_chart(paired_heatmap(normed_rollout[after], labels,
                                       f"Norm-based rollout after layer {after + 1}", "share",
                                       column_title="input token"),
                        key="attribution_norm_rollout", config=chart_config("norm-rollout"))


@st.fragment
def attribution_section(loaded: Loaded, analysis: Analysis, graph_above: bool = False) -> None:
    """The attribution and value-weighted-attention views of one analysis (one call on a
    page; its widgets rerun only this section). ``graph_above``: the page drew the attention
    graph earlier in the run (its tooltips show the result once the page runs again).

    Without a masked-LM head there is no prediction to attribute: only the value-weighted views
    are shown (the page says once, at its top, that the checkpoint cannot predict)."""
    if has_prediction_head(loaded):
        st.subheader("Attribution beside attention")
        _attribution_part(loaded, analysis, graph_above)
    else:
        st.subheader("Value-weighted attention")
    _value_part(loaded, analysis)
