"""`python -m rungs.cli ARGS`: the same as the `rungs` command."""

import sys

from . import main

sys.exit(main())
