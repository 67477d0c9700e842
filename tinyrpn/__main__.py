"""``python -m tinyrpn ...``: the same as the ``tinyrpn`` command."""

import sys

from tinyrpn.cli import main

sys.exit(main())
