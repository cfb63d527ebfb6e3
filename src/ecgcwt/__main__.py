"""``python -m ecgcwt``: the command line (:mod:`ecgcwt.cli`)."""

import sys

from .cli import main

sys.exit(main())
