"""``python -m porto_inference`` is ``porto-inference``."""

from porto_inference.cli import main

raise SystemExit(main())
