"""Streamlit glue shared by the pages: the cached model, cached analyses, the model choice."""
