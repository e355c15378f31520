from __future__ import annotations

import sys

from deepprune.cli import main

sys.exit(main())
