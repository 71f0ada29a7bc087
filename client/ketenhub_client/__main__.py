"""``python -m ketenhub_client``: the command, where the script is not on PATH."""

import sys

from ketenhub_client.cli import main

sys.exit(main())
