"""``python -m explorer …``: the command line (:mod:`explorer.cli`)."""

import sys

from explorer.cli import main

sys.exit(main())
