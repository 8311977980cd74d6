"""Put user-typed text into Streamlit markdown (st.error, st.spinner …) as plain text.

Streamlit renders message bodies as markdown: a model name such as ``![x](http://host/p.png)``
would load an outside image, ``[link](...)`` would become a link and ``:red[...]`` would colour.
Backslash-escaping every ASCII punctuation character shows such text literally. Escapes do not
stop GFM's autolinks (``http://…``, ``www.…``, ``a@b.co`` become live links even escaped), so a
WORD JOINER (U+2060, invisible) is put after ``http``/``https``/``ftp``/``www`` and after ``@``.
"""

from __future__ import annotations

import re
import string

from explorer.model import ModelLoadError

# CommonMark lets any ASCII punctuation be backslash-escaped: escape all of it.
_MARKDOWN_SPECIAL = re.compile("([" + re.escape(string.punctuation) + "])")
_AUTOLINK_START = re.compile(r"(?i)(https?|ftp|www|@)")
WORD_JOINER = "\u2060"


def escape_markdown(text: str) -> str:
    """``text`` with every markdown-significant character backslash-escaped and autolinks
    broken by an invisible word joiner, newlines kept."""
    unlinked = _AUTOLINK_START.sub(lambda m: m.group(1) + WORD_JOINER, text)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", unlinked)


def error_markdown(error: ModelLoadError) -> str:
    """A model-load error as markdown: the name and reasons escaped, the attempts as bullets."""
    lines = [f"Could not load the model '{escape_markdown(error.name)}'."]
    lines += [f"- {escape_markdown(attempt)}" for attempt in error.tried]
    lines.append(f"\nHow to fix it: {escape_markdown(error.fix)}")
    return "\n".join(lines)
