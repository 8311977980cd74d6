"""Container health check: exit 0 when Streamlit's /_stcore/health answers 200 on $PORT."""

from __future__ import annotations

import os
import sys
import urllib.request


def healthy(port: int, host: str = "127.0.0.1", timeout_s: float = 4.0) -> bool:
    try:
        url = f"http://{host}:{port}/_stcore/health"
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(0 if healthy(int(os.environ.get("PORT") or 8501)) else 1)
