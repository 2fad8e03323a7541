"""``python -m measure``: the same command line as ``measure``."""

from measure.cli import main

raise SystemExit(main())
