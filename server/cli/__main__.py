"""``python -m server.cli``: the same as the ``execstore`` command."""

import sys

from .main import main

sys.exit(main())
