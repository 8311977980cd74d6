"""A fresh server whose first request is a page's own URL still runs that page through app.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import chromium_page, running_app


@pytest.mark.parametrize("path,heading", [("layers", "Layers & heads"), ("compare", "Compare")])
def test_first_request_for_a_page_url_goes_through_app_py(tiny_model_dir: Path, path, heading):
    with running_app(tiny_model_dir) as url, chromium_page() as page:
        page.goto(f"{url}/{path}")  # nothing has loaded the root yet
        page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)
        # app.py ran: its navigation titles and the model field are in the sidebar
        sidebar = page.locator("[data-testid='stSidebar']")
        sidebar.get_by_text("Model (hub id or local folder)").wait_for(timeout=30_000)
        nav = page.locator("[data-testid='stSidebarNav']").inner_text()
        assert "Explorer" in nav and "Layers & heads" in nav
        assert "app" not in nav.split()  # not Streamlit's file-name listing of pages/
