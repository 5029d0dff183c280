"""fastgd peer benchmarks of a source checkout: ``python -m benchmarks.run`` (a shim to
:mod:`fastgd.bench.run`, where workloads W1-W6, contenders and interleaved timing live), the
pytest-benchmark suite (test_workloads.py), gpu_bench.py, dask_bench.py and RESULTS.md."""
