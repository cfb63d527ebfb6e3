"""``python -m ecgcwt``: the command line (:mod:`ecgcwt.cli`)."""

import sys

from ecgcwt.cli import main

sys.exit(main())
