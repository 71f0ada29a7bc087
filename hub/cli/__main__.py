"""``python -m hub.cli``: the same as the ``ketenhub`` command."""

import sys

from hub.cli.main import main

sys.exit(main())
