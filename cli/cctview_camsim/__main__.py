"""``python -m cctview_camsim``: the same as the ``cctview-camsim`` command."""

import sys

from cctview_camsim.main import main

sys.exit(main())
