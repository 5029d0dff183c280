"""python -m fastgd: the command line (see fastgd.cli)."""
from .cli import main

raise SystemExit(main())
