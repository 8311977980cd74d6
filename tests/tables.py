"""Find the fill-mask (and ablation) tables of a page under AppTest.

They are drawn with ``st.dataframe`` (``components.tables.text_table``), which shows cells as
plain text; ``st.table`` would render the user's text as markdown.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def prediction_tables(at: AppTest) -> list:
    """The page's top-k tables (first column "rank"), in page order."""
    return [frame for frame in at.dataframe if list(frame.value.columns)[:2] == ["rank", "token"]]
