"""``fastgd bench``: the quick peer comparison (W1-W5 scaled down, < 60 s on 2 cores).

A thin front end to ``benchmarks/run.py`` of the source checkout (the benchmark code, its peers
and references are not part of the installed package): ``fastgd bench`` runs
``python -m benchmarks.run --quick``; ``fastgd bench --full`` the issue's full sizes; other
options (``--workloads W1,W2``, ``--peers numpy,torch``, ``--rounds 7``, ``--markdown FILE``,
``--smoke``) are passed through.  torch and jax are optional: ``pip install -e '.[bench]'``.
"""
import importlib
import os
import sys


def _runner():
    """benchmarks.run from the source checkout that holds this fastgd (or from sys.path)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.isfile(os.path.join(root, "benchmarks", "run.py")) and root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module("benchmarks.run")


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
        run = _runner()
    except ImportError as e:
        print(f"fastgd bench needs the benchmarks/ directory of a fastgd source checkout "
              f"(pip install -e .) ({e})", file=sys.stderr)
        return 2
    try:
        return run.main(argv)
    except SystemExit as e:          # argparse: --help or a bad option
        return e.code if isinstance(e.code, int) else 2


if __name__ == "__main__":
    sys.exit(main())
