"""A short "Copy link" button for the sidebar (``st.components.v2``).

Every page mirrors its whole view into the browser's address (``ui/url_state.py``), so the link to
the current view is the page's own address at the moment of the click: the button copies
``window.location.href`` then, and is drawn once per page run (never from a fragment). Where the
clipboard is not available (a plain-http server that is not this machine), the link appears in a
read-only field, selected, to copy by hand. No user text is written as HTML.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

COMPONENT_NAME = "attention_explorer.copy_link"
LABEL = "Copy link to this view"

_HTML = """
<div class="cl-root" data-testid="copy-link" data-copied="">
  <button type="button" class="cl-button" data-role="copy"
          title="Copies this page's address: it restores every control of this view">
    <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true"><path fill="currentColor"
      d="M3.9 12c0-1.71 1.39-3.1 3.1-3.1h4V7H7a5 5 0 0 0 0 10h4v-1.9H7c-1.71 0-3.1-1.39-3.1-3.1zM8
      13h8v-2H8v2zm9-6h-4v1.9h4c1.71 0 3.1 1.39 3.1 3.1s-1.39 3.1-3.1 3.1h-4V17h4a5 5 0 0 0
      0-10z"/></svg>
    <span>Copy link to this view</span>
  </button>
  <span class="cl-status" data-role="status" aria-live="polite"></span>
  <input class="cl-fallback" data-role="fallback" readonly hidden aria-label="Link to this view">
</div>
"""

_CSS = """
.cl-root { display: flex; flex-wrap: wrap; align-items: center; gap: 0.4rem;
  font-family: inherit; }
.cl-button { display: inline-flex; align-items: center; gap: 0.35rem; cursor: pointer;
  font: inherit; font-size: 0.875rem; padding: 0.3rem 0.7rem; border-radius: 0.5rem;
  border: 1px solid rgba(49, 51, 63, 0.2); background: #ffffff; color: inherit;
  white-space: nowrap; }
.cl-button:hover { border-color: #1565c0; color: #1565c0; }
.cl-status { font-size: 0.8rem; color: #2e7d32; }
.cl-fallback { width: 100%; font-size: 0.75rem; }
"""

_JS = """
async function copy(root) {
  const url = window.location.href;
  const status = root.querySelector("[data-role=status]");
  const fallback = root.querySelector("[data-role=fallback]");
  try {
    await navigator.clipboard.writeText(url);
    fallback.hidden = true;
    status.textContent = "Copied";
  } catch (error) {
    fallback.value = url;
    fallback.hidden = false;
    fallback.focus();
    fallback.select();
    let copied = false;
    try { copied = document.execCommand("copy"); } catch (ignored) { copied = false; }
    status.textContent = copied ? "Copied" : "Press Ctrl+C to copy the link";
  }
  root.dataset.copied = url;
}

export default function (component) {
  const root = component.parentElement.querySelector(".cl-root");
  if (!root || root.dataset.wired) return undefined;
  root.dataset.wired = "1";
  root.querySelector("[data-role=copy]").addEventListener("click", () => copy(root));
  return undefined;
}
"""

_mount = st.components.v2.component(COMPONENT_NAME, html=_HTML, css=_CSS, js=_JS)


def copy_link_button(key: str = "copy_link") -> Any:
    """Draw the button (call once per page run, outside fragments)."""
    return _mount(key=key, data={})
