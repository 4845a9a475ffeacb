"""``python -m joinflow worker ...``: see ``joinflow.cli``."""
import sys

from .cli import main

sys.exit(main())
