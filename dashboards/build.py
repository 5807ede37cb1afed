"""Build porto's dashboards: ``python dashboards/build.py [--check | --queries]``.

The dashboards are written as Python in ``porto_dashboards/``; this writes the JSON the chart
packs and Grafana imports. See dashboards/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from porto_dashboards.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
