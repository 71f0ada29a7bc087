"""``python -m hub.cli``: the same as the ``ketenhub`` command."""

import sys

from hub.cli.main import main

if __name__ == "__main__":  # importing the module (as tools that walk packages do) runs nothing
    sys.exit(main())
