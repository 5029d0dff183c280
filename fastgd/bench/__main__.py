"""``python -m fastgd.bench``: the same as ``fastgd bench``."""
import sys

from . import main

sys.exit(main())
