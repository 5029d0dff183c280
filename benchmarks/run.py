"""``python -m benchmarks.run``: the peer comparison, as before (code: :mod:`fastgd.bench.run`).

    python -m benchmarks.run                      # the issue's sizes, W1-W6, 5 rounds (minutes)
    python -m benchmarks.run --quick              # scaled down, < 60 s on 2 cores (fastgd bench)
    python -m benchmarks.run --workloads W1,W3 --rounds 7 --markdown out.md
    python -m benchmarks.run --smoke              # toy sizes, 1 round, NumPy + fastgd only (CI)

The runner, workloads, harness and ceilings ship inside the package (``fastgd/bench/``) so
that ``fastgd bench`` works from a plain ``pip install``; this shim keeps the checkout's
command.
"""
import sys

from fastgd.bench.run import (ALL, PEERS, load_note, machine, main, parse,  # noqa: F401
                              write_markdown)

if __name__ == "__main__":
    sys.exit(main())
