"""``python -m porto_ui`` is ``porto-ui``."""

import sys

from porto_ui.cli import main

sys.exit(main())
