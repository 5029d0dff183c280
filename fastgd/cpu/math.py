"""The shared math (fastgd/losses.py, rules.py, decisions.py) compiled for the CPU, once."""
from .. import decisions as _decisions, losses as _losses, rules as _rules
from .._jit import compile_math, cpu_function
from .fastexp import exp_any, exp_neg, exp_neg_single

losses = compile_math(_losses, cpu_function, exp_neg=exp_neg, exp_neg_single=exp_neg_single,
                      exp_any=exp_any)
rules = compile_math(_rules, cpu_function)
decisions = compile_math(_decisions, cpu_function)
