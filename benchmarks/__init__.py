"""fastgd peer benchmarks: workloads W1-W5, contenders, interleaved timing (see run.py)."""
