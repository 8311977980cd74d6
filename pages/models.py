"""Models: two masked LMs side by side on the same text (DistilRoBERTa beside its teacher)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from components.charts import attention_heatmap
from components.model_charts import cka_heatmap, head_pair_click, head_pair_grid
from components.tables import predictions_frame, text_table
from explorer.analysis import Analysis
from explorer.corpus import bundled_corpus
from explorer.cost import max_job_token_passes, max_pasted_tokens, pasted_problem, sentences_cost
from explorer.hub import hub_status
from explorer.model import (
    Loaded,
    allowed_models,
    default_model_name,
    is_allowed,
    public_mode,
    shown_model_name,
)
from explorer.model_compare import (
    ComparisonError,
    candidate_changes,
    head_index,
    parameter_bytes,
    text_cka_refusal,
)
from explorer.models_state import (
    DEFAULT_MODEL_B,
    DEFAULT_SENTENCES,
    MAX_SENTENCES,
    head_label,
)
from explorer.state import DEFAULT_TEXT, DEFAULT_TOP_K
from ui import keys
from ui.analysis_view import analysis_with_notes
from ui.cache import MAX_TOP_K, held_in_budget, named_model
from ui.entry import ensure_app_entry
from ui.export import chart_config
from ui.jobs import JobRefused
from ui.lm_head import has_prediction_head
from ui.markdown import escape_markdown
from ui.model_choice import local_models, public_model_field
from ui.models_cache import (
    cached_head_similarity,
    cached_layer_cka,
    cached_sentences_comparison,
    cached_speeds,
    cached_tokenizer_match,
    held_sentences_comparison,
    sentences_tokens,
    speed_key,
)
from ui.models_url import link_slot, publish_models_state, restore_models_state
from ui.reading import DEFAULT_TEXT_WITHOUT_HEAD, SHARED_TEXT_LABEL, SHARED_TEXT_PAGES

ensure_app_entry()

PAIR_GRID = "models_pair_grid"
PAIR_HANDLED = "models_pair_handled"
SPEED_ROUND = "models_speed_round"
SOURCE = "models_sentence_source"
OWN_SENTENCES = "models_own_sentences"
BUNDLED = "bundled corpus"
OWN = "my sentences"
CHARS_PER_TOKEN = 8  # the box takes at most this many characters per allowed token (English: 4-5)
NEITHER_PREDICTS = (
    "Neither model has a masked-LM prediction head (its weights are missing: saved as an "
    "encoder only, e.g. a sentence-transformers model), so no predictions are shown — they "
    "would be random. Attention, layers and speed are compared as usual.")


def default_models() -> tuple[str, str]:
    """A: the app's model (distilroberta-base unless the operator chose another); B:
    roberta-base, its teacher, where it can load (in the local cache, or the hub reachable on a
    private server). Otherwise a local model other than A, else A itself (a local model always
    loads; a hub id that cannot be fetched would only fail). With an allow-list, allowed models
    only."""
    allowed = allowed_models()
    model_a = default_model_name()
    if allowed is not None:
        others = [name for name in allowed if name != model_a]
        if is_allowed(DEFAULT_MODEL_B, allowed):
            return model_a, DEFAULT_MODEL_B
        return model_a, others[0] if others else allowed[0]
    if local_model_b_first():
        others = [m.name for m in local_models() if m.name != model_a]
        return model_a, others[0] if others else model_a
    return model_a, DEFAULT_MODEL_B


def local_model_b_first() -> bool:
    """Whether Model B's default should be a model on this machine rather than roberta-base:
    on a public server (no downloads for visitors by default), or when roberta-base is not
    in the local cache and the hub cannot be reached."""
    if public_mode():
        return True
    if any(m.name == DEFAULT_MODEL_B for m in local_models()):
        return False
    return not hub_status().reachable  # HF_HUB_OFFLINE set, or no answer


def model_field(label: str, key: str, default: str, container) -> str:
    """The model field, as the sidebar's: a selectbox of the allowed models on a server with an
    allow-list (a name from elsewhere falls back to the default), else free text."""
    allowed = allowed_models()
    st.session_state.setdefault(key, default)
    if allowed is not None:
        if not is_allowed(str(st.session_state[key]), allowed):
            st.session_state[key] = default
        current = str(st.session_state[key])
        if current not in allowed:
            st.session_state[key] = next(a for a in allowed if is_allowed(current, (a,)))
        return str(container.selectbox(label, allowed, key=key, format_func=shown_model_name))
    if public_mode():
        return public_model_field(label, key, container)
    return str(container.text_input(label, key=key, help="A hub id or a local folder holding a "
                                    "masked LM, as in the sidebar's model field."))


def describe(loaded: Loaded, container) -> None:
    info = loaded.info
    container.caption(escape_markdown(
        f"{info.model_type}: {info.num_layers} layers × {info.num_heads} heads, hidden "
        f"{info.hidden_size}, {info.num_parameters:,} parameters — "
        f"{parameter_bytes(loaded) / 2**20:,.0f} MiB in memory ({info.source})."))


def all_heads(loaded: Loaded) -> list[tuple[int, int]]:
    return [(layer, head) for layer in range(loaded.info.num_layers)
            for head in range(loaded.info.num_heads)]


def predictions_side_by_side(loaded_a: Loaded, loaded_b: Loaded, a: Analysis, b: Analysis,
                             top_k: int, comparable: bool) -> None:
    if not (has_prediction_head(loaded_a) or has_prediction_head(loaded_b)):
        return  # said once above the text
    st.subheader("Predictions")
    columns = st.columns(2)
    for name, loaded, analysis, column in (("A", loaded_a, a, columns[0]),
                                           ("B", loaded_b, b, columns[1])):
        with column:
            if not has_prediction_head(loaded):
                st.caption(f"Model {name} has no masked-LM prediction head (an encoder-only "
                           "checkpoint): no predictions, they would be random.")
                continue
            if not analysis.predictions:
                st.info(f"No {escape_markdown(loaded.info.mask_token)} in the text for model "
                        f"{name}, so no prediction.")
            for number, mask in enumerate(analysis.predictions, start=1):
                st.markdown(f"**Model {name} · mask {number}** (token {mask.position})")
                text_table(predictions_frame(mask, top_k), key=f"models_predictions_{name}_"
                                                               f"{number}")
    if not comparable or not (has_prediction_head(loaded_a) and has_prediction_head(loaded_b)):
        return
    masks = min(len(a.predictions), len(b.predictions))
    if not masks:
        return
    st.caption("Each candidate in either top-k, with its probability and rank (over the whole "
               "vocabulary) under A and under B. Rank change = rank in B − rank in A "
               "(negative: B ranks it higher).")
    for mask in range(masks):
        changes = candidate_changes(a, b, mask, top_k)
        st.markdown(f"**Mask {mask + 1}: A and B**")
        st.dataframe(pd.DataFrame({
            "token": [c.token_str for c in changes],
            "P(A)": [c.probability_a for c in changes],
            "P(B)": [c.probability_b for c in changes],
            "rank in A": [c.rank_a for c in changes],
            "rank in B": [c.rank_b for c in changes],
            "rank change": [c.rank_b - c.rank_a for c in changes],
        }), hide_index=True, key=f"models_changes_{mask + 1}", width="stretch",
            column_config={name: st.column_config.NumberColumn(format="%.4f")
                           for name in ("P(A)", "P(B)")})


def speed_section(loaded_a: Loaded, loaded_b: Loaded, a: Analysis, b: Analysis) -> None:
    st.subheader("Speed on this input")
    round_ = int(st.session_state.get(SPEED_ROUND, 0))
    measured = held_in_budget(speed_key(loaded_a, loaded_b, a, round_))
    if st.button("Measure A and B on this text" if measured is None else "Measure again",
                 key="models_measure", icon=":material/speed:"):
        if measured is not None:
            round_ += 1
            st.session_state[SPEED_ROUND] = round_
        with st.spinner("Timing both models (one warm-up and 5 passes each) …"):
            measured = cached_speeds(loaded_a, loaded_b, a, b, round_)
    if measured is None:
        st.caption("One forward pass of each model on this text (attentions and hidden states "
                   "on, as the app runs it), median of 5 after a warm-up, A then B in the same "
                   "run — the model card's “twice as fast”, checked on your text.")
        return
    seconds_a, seconds_b = measured  # type: ignore[misc]
    first, second, third = st.columns(3)
    first.metric("Model A, one forward pass", f"{seconds_a * 1e3:,.1f} ms")
    second.metric("Model B, one forward pass", f"{seconds_b * 1e3:,.1f} ms")
    third.metric("B ÷ A", f"{seconds_b / max(seconds_a, 1e-9):.2f}×",
                 help="Above 1: A is faster. Measured on this machine, now; other sessions "
                      "running at the same time slow both.")


def _pair_defaults(loaded_a: Loaded, loaded_b: Loaded) -> None:
    """Heads from a link that the loaded models do not have are dropped, with a note."""
    for key, loaded, name in ((keys.HEAD_A, loaded_a, "A"), (keys.HEAD_B, loaded_b, "B")):
        head = st.session_state.get(key)
        if head is not None and tuple(head) not in all_heads(loaded):
            st.warning(f"Model {name} has no head {head_label(*head)} "
                       f"({loaded.info.num_layers} layers × {loaded.info.num_heads} heads).",
                       icon=":material/link:")
            st.session_state[key] = None
        elif head is not None:
            st.session_state[key] = tuple(head)


@st.fragment
def head_to_head(loaded_a: Loaded, loaded_b: Loaded, a: Analysis, b: Analysis,
                 defaults: dict[str, object]) -> None:
    """The A-heads × B-heads map; a click (or the two pickers) shows both heads side by side."""
    similarity = cached_head_similarity(loaded_a, loaded_b, a, b)
    count_a, count_b = similarity.shape
    event = st.plotly_chart(
        head_pair_grid(similarity, loaded_a.info.num_layers, loaded_a.info.num_heads,
                       loaded_b.info.num_layers, loaded_b.info.num_heads,
                       "Head-to-head similarity on this text (1 − Jensen–Shannon divergence, "
                       "mean over query tokens) — click a cell"),
        key=PAIR_GRID, on_select="rerun", selection_mode="points",
        config=chart_config("head-to-head"))
    clicked = head_pair_click(event, count_a, count_b)
    if clicked and clicked != st.session_state.get(PAIR_HANDLED):
        st.session_state[PAIR_HANDLED] = clicked
        st.session_state[keys.HEAD_A] = divmod(clicked[0], loaded_a.info.num_heads)
        st.session_state[keys.HEAD_B] = divmod(clicked[1], loaded_b.info.num_heads)
    if not clicked:
        st.session_state.pop(PAIR_HANDLED, None)
    left, right = st.columns(2)
    head_a = left.selectbox("Head of A", all_heads(loaded_a), key=keys.HEAD_A, index=None,
                            format_func=lambda lh: head_label(*lh),
                            placeholder="click the map or choose")
    head_b = right.selectbox("Head of B", all_heads(loaded_b), key=keys.HEAD_B, index=None,
                             format_func=lambda lh: head_label(*lh),
                             placeholder="click the map or choose")
    publish_models_state(defaults)
    if head_a is None or head_b is None:
        st.caption("Click a cell of the map (or choose a head of each model) to see both "
                   "heads' attention side by side.")
        return
    a_index = head_index(*head_a, loaded_a.info.num_heads)
    b_index = head_index(*head_b, loaded_b.info.num_heads)
    st.markdown(f"**A {head_label(*head_a)} × B {head_label(*head_b)}**: similarity "
                f"{similarity[a_index, b_index]:.3f}")
    for (name, analysis, (layer, head)), column in zip(
            (("A", a, head_a), ("B", b, head_b)), st.columns(2)):
        column.plotly_chart(
            attention_heatmap(analysis.attentions[layer, head], analysis.labels,
                              f"Model {name}: {head_label(layer, head)}"),
            key=f"models_head_{name}", config=chart_config(f"head-{name}"))


def layer_correspondence(loaded_a: Loaded, loaded_b: Loaded, analysis_a: Analysis,
                         analysis_b: Analysis) -> None:
    """Debiased layer CKA pooled over the bundled corpus (the default), and on this text only
    when it has enough tokens for the number to mean something."""
    st.caption("Debiased linear CKA (Kornblith et al. 2019 with the unbiased HSIC of Song et "
               "al. 2012, as in Nguyen, Raghu & Kornblith 2021) between every layer of A and "
               "every layer of B: which layer of B each layer of A resembles (1 = the same up "
               "to rotation and scale, about 0 = unrelated; it can dip below 0). emb = the "
               "embeddings.")
    sentences = tuple(bundled_corpus().sentences[:DEFAULT_SENTENCES])
    try:
        with st.spinner(f"Running both models over {len(sentences)} corpus sentences …"):
            pooled = cached_sentences_comparison(loaded_a, loaded_b, sentences)
    except ComparisonError as error:
        st.warning(escape_markdown(str(error)))
    else:
        st.plotly_chart(cka_heatmap(pooled.cka, f"Layer CKA over {pooled.sentences} corpus "
                                                "sentences"),
                        key="models_cka", config=chart_config("layer-cka"))
        st.caption(f"Rests on {pooled.cka_tokens:,} non-special tokens from the first "
                   f"{pooled.sentences} sentences of the bundled corpus.")
    tokens = int((~np.asarray(analysis_a.special_mask, bool)).sum())
    refusal = text_cka_refusal(tokens)
    if refusal:
        st.caption(refusal)
        return
    st.plotly_chart(cka_heatmap(cached_layer_cka(loaded_a, loaded_b, analysis_a, analysis_b),
                                "Layer CKA on this text"),
                    key="models_cka_text", config=chart_config("layer-cka-text"))
    st.caption(f"On this text: {tokens:,} non-special tokens.")


@st.fragment
def over_sentences(loaded_a: Loaded, loaded_b: Loaded) -> None:
    """The same map and CKA pooled over many sentences, computed on request."""
    st.subheader("Over many sentences")
    st.caption("So the map is not one sentence's accident: head similarity averaged over every "
               "non-special query token, and CKA over the pooled non-special tokens (at most "
               "2,000, evenly sampled).")
    source = st.radio("Sentences", (BUNDLED, OWN), key=SOURCE, horizontal=True)
    if source == BUNDLED:
        st.session_state.setdefault(keys.SENTENCES, DEFAULT_SENTENCES)
        count = int(st.number_input("First sentences of the bundled corpus", 1, MAX_SENTENCES,
                                    key=keys.SENTENCES))
        sentences = tuple(bundled_corpus().sentences[:count])
    else:
        limit = max_pasted_tokens()
        typed = st.text_area(
            "One sentence per line", key=OWN_SENTENCES, height=120,
            max_chars=limit * CHARS_PER_TOKEN,
            help=f"At most {MAX_SENTENCES} lines and {limit:,} tokens on this server.")
        lines = [line.strip() for line in typed.splitlines() if line.strip()]
        if len(lines) > MAX_SENTENCES:
            st.info(f"Using the first {MAX_SENTENCES} of {len(lines):,} lines.")
        sentences = tuple(lines[:MAX_SENTENCES])
        if sentences:
            tokens = sentences_tokens(loaded_a, sentences)
            problem = pasted_problem(tokens, limit)
            if problem:
                st.warning(problem, icon=":material/memory:")
                return
    if not sentences:
        st.info("Type at least one sentence.")
        return
    result = held_sentences_comparison(loaded_a, loaded_b, sentences)
    if result is None:
        cost = sentences_cost(sentences_tokens(loaded_a, sentences))
        if not st.button(f"Compare A and B over {len(sentences)} sentence(s)",
                         key="models_compare_sentences", icon=":material/play_arrow:"):
            st.caption(f"{cost.tokens:,} tokens × 2 models = {cost.token_passes:,} "
                       f"token-passes; this server runs at most {max_job_token_passes():,} "
                       "per request.")
            return
        try:
            result = cached_sentences_comparison(loaded_a, loaded_b, sentences)
        except (ComparisonError, JobRefused) as error:
            st.warning(escape_markdown(str(error)))
            return
    st.caption(f"{result.sentences} sentences, {result.query_tokens:,} query tokens; CKA on "
               f"{result.cka_tokens:,} tokens.")
    st.plotly_chart(head_pair_grid(
        result.head_similarity, loaded_a.info.num_layers, loaded_a.info.num_heads,
        loaded_b.info.num_layers, loaded_b.info.num_heads,
        f"Head-to-head similarity over {result.sentences} sentences"),
        key="models_pair_grid_sentences", config=chart_config("head-to-head-sentences"))
    st.plotly_chart(cka_heatmap(result.cka, f"Layer CKA over {result.sentences} sentences"),
                    key="models_cka_sentences", config=chart_config("cka-sentences"))


st.title("Models")
st.caption("Two masked language models on the same text: DistilRoBERTa beside its teacher "
           "RoBERTa, or any two. Predictions, which heads attend alike, which layers "
           "correspond, and how fast each one is.")

restore_models_state()
link_slot()
default_a, default_b = default_models()
st.session_state.setdefault(keys.TOP_K, DEFAULT_TOP_K)
DEFAULTS: dict[str, object] = {keys.MODEL_A: default_a, keys.MODEL_B: default_b,
                               keys.TEXT: DEFAULT_TEXT, keys.TOP_K: DEFAULT_TOP_K,
                               keys.SENTENCES: DEFAULT_SENTENCES}

column_a, column_b = st.columns(2)
name_a = model_field("Model A", keys.MODEL_A, default_a, column_a)
name_b = model_field("Model B", keys.MODEL_B, default_b, column_b)
publish_models_state(DEFAULTS)
loaded_a = named_model(name_a.strip(), column_a, offer_others=False)
loaded_b = named_model(name_b.strip(), column_b, offer_others=False)
if loaded_a is not None:
    describe(loaded_a, column_a)
if loaded_b is not None:
    describe(loaded_b, column_b)
if loaded_a is None or loaded_b is None:
    st.stop()

either_predicts = has_prediction_head(loaded_a) or has_prediction_head(loaded_b)
DEFAULTS[keys.TEXT] = DEFAULT_TEXT if either_predicts else DEFAULT_TEXT_WITHOUT_HEAD
st.session_state.setdefault(keys.TEXT, DEFAULTS[keys.TEXT])  # no <mask> where none can be filled
if not either_predicts:
    st.info(NEITHER_PREDICTS, icon=":material/block:")
text = st.text_area(SHARED_TEXT_LABEL, key=keys.TEXT, height=90,
                    help=("Put <mask> where a word should be predicted. " if either_predicts
                          else "") + f"One text for {SHARED_TEXT_PAGES}: editing it here "
                    "changes it there.")
if either_predicts:
    top_k = int(st.number_input("Top-k predictions", min_value=1, max_value=MAX_TOP_K,
                                key=keys.TOP_K))
else:  # nothing to predict: no control that cannot work
    top_k = int(st.session_state[keys.TOP_K])
_pair_defaults(loaded_a, loaded_b)
publish_models_state(DEFAULTS)

match = cached_tokenizer_match(loaded_a, loaded_b)
if not match.same:
    st.warning(
        "The two models use different tokenizers: "
        + escape_markdown("; ".join(match.differences)) + ".\n\n"
        + "Compared here: " + "; ".join(match.comparable) + ".\n\n"
        + "Not comparable: " + "; ".join(match.not_comparable) + ".",
        icon=":material/call_split:")

analysis_a = analysis_with_notes(loaded_a, text, column_a, "A")
analysis_b = analysis_with_notes(loaded_b, text, column_b, "B")
if analysis_a is None or analysis_b is None:
    st.stop()

predictions_side_by_side(loaded_a, loaded_b, analysis_a, analysis_b, top_k, match.same)
speed_section(loaded_a, loaded_b, analysis_a, analysis_b)
if match.same:
    st.subheader("Head-to-head map")
    head_to_head(loaded_a, loaded_b, analysis_a, analysis_b, DEFAULTS)
    st.subheader("Layer correspondence")
    layer_correspondence(loaded_a, loaded_b, analysis_a, analysis_b)
    over_sentences(loaded_a, loaded_b)
