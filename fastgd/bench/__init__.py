"""``fastgd bench``: the quick peer comparison (W1-W6 scaled down, < 60 s on 2 cores).

The benchmark code ships with the package: :mod:`fastgd.bench.run` (the runner),
:mod:`fastgd.bench.workloads` (W1-W6, their contenders and float64 references),
:mod:`fastgd.bench.harness` (interleaved timing) and :mod:`fastgd.bench.ceilings` (memory-read
ceilings).  ``fastgd bench`` runs the runner with ``--quick``; ``fastgd bench --full`` the
issue's full sizes; other options (``--workloads W1,W2``, ``--peers numpy,torch``,
``--rounds 7``, ``--markdown FILE``, ``--smoke``) are passed through.  In a source checkout
``python -m benchmarks.run`` is the same runner (full sizes by default).  torch and jax are
optional (``pip install 'fastgd[bench]'``): a peer that is not installed is skipped.

Importing this package imports nothing heavy: the runner (NumPy, Numba kernels, peers) is
imported by :func:`main`.
"""
import sys


def main(argv=None) -> int:
    """Run the quick benchmark and print the ratio table; returns the exit code."""
    if argv is None:
        argv = sys.argv[1:]
        if argv[:1] == ["bench"]:
            argv = argv[1:]
    argv = list(argv)
    if "--full" in argv:
        argv.remove("--full")
    elif "--smoke" not in argv and "--quick" not in argv:
        argv.insert(0, "--quick")
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip() + "\n")
    try:
        from . import run
    except ImportError as e:
        print(f"fastgd bench: a benchmark dependency is missing ({e}); "
              f"pip install 'fastgd[bench]'", file=sys.stderr)
        return 2
    try:
        return run.main(argv, prog="fastgd bench")
    except SystemExit as e:          # argparse: --help or a bad option
        return e.code if isinstance(e.code, int) else 2
