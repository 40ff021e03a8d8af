"""``python -m evidence_real`` (with ``scripts`` and ``clients/python`` on ``PYTHONPATH``)."""

import sys

from .cli import main

sys.exit(main())
