"""Vectorisable exponentials for the CPU row loops: exp(-a) (logistic, softmax), its
float32-precise variant for float32 data, and exp(x) of any sign (Poisson).

libm's exp is an opaque call per element (measured 3.4 ns per row: the whole cost of a
float32 logistic iteration); this is plain arithmetic that LLVM vectorises: Cody-Waite
range reduction, a degree-13 Taylor polynomial on [-ln2/2, ln2/2] (error < 1 ulp of
float64), and the power of two built from its bit pattern.  GPUs keep math.exp.
"""
import math

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


@njit(cache=True, nogil=True, fastmath=set(FASTMATH), inline="always")
def taylor13(x):
    """exp(x) for |x| <= ln2 / 2 by its degree-13 Taylor polynomial (error < 1 ulp)."""
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
    return p * x + 1.0


@njit(cache=True, nogil=True, fastmath=set(FASTMATH))
def exp_neg(a):
    """exp(-a) in float64 for a >= 0 (a > 708 gives ~1e-308 instead of 0)."""
    a = min(float(a), MAX_ARG)
    k = int(a * INV_LN2 + 0.5)
    x = (k * LN2_HI - a) + k * LN2_LO   # -r, |r| <= ln2 / 2
    return taylor13(x) * pow2_int(-k)


@njit(cache=True, nogil=True, fastmath=set(FASTMATH))
def exp_neg_single(a):
    """exp(-a) in float64 for a >= 0 to float32 precision: degree 7 on the same reduced
    argument (|r| <= ln2 / 2: the next term, r^8 / 8!, is < 5.3e-9 relative)."""
    a = min(float(a), MAX_ARG)
    k = int(a * INV_LN2 + 0.5)
    x = (k * LN2_HI - a) + k * LN2_LO
    p = 1.984126984126984e-04            # 1/7!
    p = p * x + 0.001388888888888889
    p = p * x + 0.008333333333333333
    p = p * x + 0.041666666666666664
    p = p * x + 0.16666666666666666
    p = p * x + 0.5
    p = p * x + 1.0
    p = p * x + 1.0
    return p * pow2_int(-k)


EXP_OVERFLOW = 709.782712893384  # exp(x) > max float64 above this


@njit(cache=True, nogil=True, fastmath=set(FASTMATH))
def exp_any(x):
    """exp(x) in float64 for any real x (Poisson's log link): exp_neg's reduction and
    polynomial for both signs, +inf past the overflow threshold, 0-ish (< 1e-300) below
    -708, NaN for NaN (to 2 ulp of float64 where the result is normal)."""
    xf = float(x)
    a = min(max(xf, -MAX_ARG), EXP_OVERFLOW)
    kf = math.floor(a * INV_LN2 + 0.5)
    k = int(kf)
    r = (a - kf * LN2_HI) - kf * LN2_LO   # |r| <= ln2 / 2
    out = taylor13(r) * pow2_int(k - 1) * 2.0   # k reaches 1024 near the overflow threshold
    if xf > EXP_OVERFLOW:
        out = math.inf
    if xf != xf:
        out = xf
    return out
