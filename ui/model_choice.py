"""The model choice: the sidebar field, the models already on this machine as one-click choices,
the ways to get distilroberta-base when there are none, and a download with visible progress."""

from __future__ import annotations

import os
import threading

import streamlit as st

from explorer.hub import download_snapshot, hub_status
from explorer.local_models import (
    LocalModel,
    cached_snapshot,
    describe_folder,
    discover,
    hub_cache_dir,
)
from explorer.model import (
    ALLOWED_MODELS_ENV_VAR,
    DEFAULT_MODEL,
    MODEL_ENV_VAR,
    MODEL_ROOT_ENV_VAR,
    ModelLoadError,
    allowed_models,
    check_allowed,
    check_model_name,
    default_model_name,
    is_allowed,
    is_operator_model,
    looks_like_folder,
    public_mode,
    shown_model_name,
)
from ui.keys import MODEL as MODEL_KEY
from ui.markdown import escape_markdown

DOWNLOAD_COMMAND = f"python scripts/download_model.py {DEFAULT_MODEL}"
FOLDER_COMMANDS = (
    f"# on a machine with internet, in a copy of this project:\n"
    f"python scripts/download_model.py {DEFAULT_MODEL} models/{DEFAULT_MODEL}\n"
    f"# then copy that folder into this project's models/ folder here, e.g.\n"
    f"scp -r models/{DEFAULT_MODEL} THIS-MACHINE:PATH/TO/PROJECT/models/"
)


def model_sidebar() -> str:
    """Draw the model field in the sidebar and return the chosen name.

    When ``$EXPLORER_ALLOWED_MODELS`` is set (public demos) the field is a selectbox of the
    allowed models; a name from elsewhere (say, a tampered URL) falls back to the default.
    """
    allowed = allowed_models()
    if MODEL_KEY not in st.session_state:
        st.session_state[MODEL_KEY] = default_model_name()
    with st.sidebar:
        if allowed is not None:
            current = str(st.session_state[MODEL_KEY])
            if current not in allowed:
                match = next((a for a in allowed if is_allowed(current, (a,))), None)
                st.session_state[MODEL_KEY] = match or default_model_name()
            st.selectbox(
                "Model",
                allowed,
                key=MODEL_KEY,
                format_func=shown_model_name,
                help=f"This server loads only these models (${ALLOWED_MODELS_ENV_VAR}).",
            )
        elif public_mode():
            public_model_field("Model (hub id or local folder)", MODEL_KEY, st)
        else:
            st.text_input(
                "Model (hub id or local folder)",
                key=MODEL_KEY,
                help=(
                    f"Default: {DEFAULT_MODEL}, or the value of ${MODEL_ENV_VAR}. A local folder "
                    "must hold a save_pretrained() masked LM with safetensors weights. Set "
                    "HF_HUB_OFFLINE=1 to use only the local cache."
                ),
            )
        current = str(st.session_state[MODEL_KEY])
        if any(m.name != current for m in local_models()):
            with st.expander("Models on this machine", icon=":material/memory:"):
                offer_local_models(current, st, key="sidebar_model", commands=False)
    return str(st.session_state[MODEL_KEY])


def offered_models(current: str = "") -> list[str]:
    """The models this server offers by name: its own, those found on this machine, and
    ``current`` (the field's value) when it is none of them."""
    names = [default_model_name(), *(m.name for m in local_models())]
    if current and current not in names:
        names.append(current)
    return list(dict.fromkeys(names))


def public_model_field(label: str, key: str, container) -> str:
    """On a public server without an allow-list: the offered models, shown by name (never a
    server folder), and a visitor may type a hub id (validated when it loads)."""
    current = str(st.session_state.get(key) or default_model_name())
    st.session_state[key] = current
    return str(container.selectbox(
        label, offered_models(current), key=key, format_func=shown_model_name,
        accept_new_options=True,
        help="A model this server offers, or type the hub id of a masked language model."))


def local_models() -> list[LocalModel]:
    """The masked LMs on this machine that this server may offer (scanned at most every 30 s
    for the same settings).

    A public server offers only ``$EXPLORER_MODEL`` and the folders under
    ``$EXPLORER_MODEL_ROOT``, never the rest of its hub cache; an allow-list filters further.
    """
    import explorer.local_models as places

    settings = (str(hub_cache_dir()), str(places.PROJECT_MODELS), public_mode(),
                os.environ.get(MODEL_ENV_VAR, ""), os.environ.get(MODEL_ROOT_ENV_VAR, ""),
                os.environ.get(ALLOWED_MODELS_ENV_VAR, ""))
    return _scan(settings)


@st.cache_data(ttl=30, show_spinner=False)
def _scan(settings: tuple[object, ...]) -> list[LocalModel]:
    allowed = allowed_models()
    found = discover(include_hub_cache=not public_mode())
    return [m for m in found if is_allowed(m.name, allowed)]


def _choose(name: str) -> None:
    st.session_state[MODEL_KEY] = name


def offer_local_models(current: str, container=st, key: str = "local_model",
                       commands: bool = True) -> None:
    """One button per model on this machine; with none, the two ways to get distilroberta-base
    as commands to copy (not on a public server, whose visitors cannot run them)."""
    models = [m for m in local_models() if m.name != current]
    if models:
        container.markdown("**Models on this machine** — one click loads one:")
        for index, model in enumerate(models):
            shown = model.folder.name if public_mode() and model.where != "hub cache" \
                else model.name
            container.button(
                escape_markdown(shown), key=f"{key}_{index}", on_click=_choose,
                args=(model.name,), icon=":material/memory:",
                help="Load this model (found in " + model.where + ")",
            )
            details = (f"{model.family} · {model.num_parameters / 1e6:.0f} M parameters · "
                       f"{model.size_bytes / 2**20:.0f} MiB · {model.where}")
            if not model.has_lm_head:
                details += " · no prediction head (attention and hidden states only)"
            container.caption(escape_markdown(details))
        return
    if public_mode() or not commands:
        return
    container.markdown(f"**No masked language model is on this machine yet.** Two ways to get "
                       f"{DEFAULT_MODEL}:")
    container.markdown("1. With internet: download it once into the Hugging Face cache "
                       "(about 330 MB), then reload this page.")
    container.code(DOWNLOAD_COMMAND, language="bash")
    container.markdown("2. Without internet here: save it as a folder on a machine that has "
                       "internet and copy the folder into this project's `models/` folder; it "
                       "is offered here on the next reload.")
    container.code(FOLDER_COMMANDS, language="bash")


def _needs_download(name: str) -> bool:
    """Whether ``name`` is a hub id this app may fetch, missing from the cache, with the hub
    reachable: only then is a download (with progress) worth starting."""
    try:
        check_model_name(name)
        check_allowed(name)
    except ModelLoadError:
        return False  # load() says why
    if looks_like_folder(name) or (public_mode() and not is_operator_model(name)):
        return False
    repo = hub_cache_dir() / ("models--" + name.replace("/", "--"))
    snapshot = cached_snapshot(repo) if repo.is_dir() else None
    if snapshot is not None and describe_folder(snapshot, name, "hub cache") is not None:
        return False
    return hub_status().reachable


def download_with_progress(name: str) -> None:
    """Download ``name`` into the hub cache with a progress bar (bytes and percent), when it is
    a hub id missing from the cache and the hub is reachable. Failures are left to load()."""
    if not _needs_download(name):
        return
    progress: dict[str, object] = {"done": 0, "total": 0, "error": None}

    def report(done: int, total: int) -> None:
        progress["done"], progress["total"] = done, total

    def work() -> None:
        try:
            download_snapshot(name, on_progress=report, cache_dir=str(hub_cache_dir()))
        except Exception as error:  # reported by load() afterwards, in its own words
            progress["error"] = error

    shown = escape_markdown(name)
    bar = st.progress(0.0, text=f"Downloading {shown} from the hub …")
    worker = threading.Thread(target=work, daemon=True, name="model-download")
    worker.start()
    while worker.is_alive():  # the script thread draws; the download threads only count
        done, total = int(progress["done"]), int(progress["total"])  # type: ignore[call-overload]
        if total:
            share = min(done / total, 1.0)
            bar.progress(share, text=f"Downloading {shown}: {done / 2**20:,.1f} of "
                                     f"{total / 2**20:,.1f} MiB ({share:.0%})")
        worker.join(0.25)
    bar.empty()
