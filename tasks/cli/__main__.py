"""`python -m tasks.cli …` is `mlab …` (for a checkout where the console script is not installed)."""

import sys

from tasks.cli.main import main

sys.exit(main())
