"""The shared math (fastgd/losses.py, rules.py, decisions.py) compiled as CUDA device
functions.

Same source as fastgd/cpu/math.py: CPU and GPU cannot drift apart.
"""
from numba import cuda

from .. import decisions as _decisions, losses as _losses, rules as _rules
from .._jit import compile_math


def _device_function(fn):
    return cuda.jit(device=True)(fn)


losses = compile_math(_losses, _device_function)
rules = compile_math(_rules, _device_function)
decisions = compile_math(_decisions, _device_function)
