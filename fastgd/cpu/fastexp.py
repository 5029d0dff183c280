"""A vectorisable exp(-a) for the CPU row loops.

libm's exp is an opaque call per element (measured 3.4 ns per row: the whole cost of a
float32 logistic iteration); this is plain arithmetic that LLVM vectorises: Cody-Waite
range reduction, a degree-13 Taylor polynomial on [-ln2/2, ln2/2] (error < 1 ulp of
float64), and the power of two built from its bit pattern.  GPUs keep math.exp.
"""
from llvmlite import ir
from numba import njit
from numba.core import types
from numba.extending import intrinsic

from .._jit import FASTMATH

INV_LN2 = 1.4426950408889634
LN2_HI = 0.6931471803691238     # ln 2 split so that k * LN2_HI is exact for |k| < 2^11
LN2_LO = 1.9082149292705877e-10
MAX_ARG = 708.0                 # exp(-708) is the smallest normal float64 or so


@intrinsic
def pow2_int(typingctx, k):
    """2.0 ** k for an int64 k in [-1022, 1023], from the float64 bit pattern."""
    if not isinstance(k, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        k64 = context.cast(builder, args[0], sig.args[0], types.int64)
        bits = builder.shl(builder.add(k64, ir.Constant(ir.IntType(64), 1023)),
                           ir.Constant(ir.IntType(64), 52))
        return builder.bitcast(bits, ir.DoubleType())

    return types.float64(k), codegen


@njit(cache=True, nogil=True, fastmath=set(FASTMATH))
def exp_neg(a):
    """exp(-a) in float64 for a >= 0 (a > 708 gives ~1e-308 instead of 0)."""
    a = min(float(a), MAX_ARG)
    k = int(a * INV_LN2 + 0.5)
    x = (k * LN2_HI - a) + k * LN2_LO   # -r, |r| <= ln2 / 2
    p = 1.6059043836821613e-10           # 1/13!
    p = p * x + 2.08767569878681e-09     # 1/12!
    p = p * x + 2.505210838544172e-08
    p = p * x + 2.755731922398589e-07
    p = p * x + 2.7557319223985893e-06
    p = p * x + 2.48015873015873e-05
    p = p * x + 0.0001984126984126984
    p = p * x + 0.001388888888888889
    p = p * x + 0.008333333333333333
    p = p * x + 0.041666666666666664
    p = p * x + 0.16666666666666666
    p = p * x + 0.5
    p = p * x + 1.0
    p = p * x + 1.0
    return p * pow2_int(-k)
