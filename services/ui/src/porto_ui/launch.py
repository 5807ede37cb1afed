"""``python -m porto_ui.launch run <app> [flags]``: ``streamlit run`` with the metrics endpoint
already up.

Streamlit runs the app script only when a browser session opens, so a metrics server started
there would be missing until the first visitor — and Prometheus would see the target down. This
launcher starts it first, then hands the command line to Streamlit's own CLI in the same process;
the app's call (kept, for a plain ``streamlit run app.py``) then finds it running.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Start the metrics endpoint from PORTO_UI_* settings, then run Streamlit's CLI."""
    from porto.errors import PortoError
    from streamlit.web.cli import main as streamlit_main

    from porto_ui import metrics
    from porto_ui.settings import load_settings

    try:
        settings = load_settings()
        metrics.start_server(settings.metrics_port, settings.metrics_host, strict=True)
    except PortoError as exc:  # a bad PORTO_UI_* setting, a taken metrics port
        sys.exit(f"error: {exc.message}")
    sys.argv = ["streamlit", *sys.argv[1:]]
    streamlit_main()


if __name__ == "__main__":
    main()
