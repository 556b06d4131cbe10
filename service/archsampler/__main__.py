"""`python -m archsampler` runs the CLI."""

from __future__ import annotations

import sys

from archsampler.cli import main

sys.exit(main())
