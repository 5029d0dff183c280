"""The one place that decides how CPU code is compiled."""
import ctypes
import types

import numba
import numpy as np
from numba import njit
from numba.core import types as nbtypes
from numba.extending import intrinsic
from numba.core.registry import CPUDispatcher

# No nnan/ninf (they delete NaN/Inf checks) and no nsz (with reassoc it folds
# isfinite to True).  reassoc lets reductions vectorise; contract allows FMA.
FASTMATH = frozenset({"contract", "arcp", "reassoc"})


def cpu_kernel(fn=None, *, parallel=False, refcount=True, inline=False):
    """njit with the project's options: cached, GIL released, safe fastmath, and
    error_model="numpy": x/0 gives inf/nan (caught by the divergence checks) instead of
    a zero test per division, which would stop loops from vectorising.

    refcount=False compiles without Numba's runtime (no reference counting, so no
    allocation either): for the per-iteration helpers, where passing a dozen arrays
    otherwise costs two runtime calls per array per call (measured: half of a small
    problem's iteration).  inline=True inlines at Numba-IR level: for a dispatcher
    called every iteration with a dozen array arguments (passed by value, ~100 words).
    """
    opts = {} if refcount else {"_nrt": False}
    if inline:  # inline into callers at Numba-IR level (a dispatcher with many arrays)
        opts["inline"] = "always"
    deco = njit(cache=True, nogil=True, fastmath=set(FASTMATH), parallel=parallel,
                error_model="numpy", **opts)
    return deco if fn is None else deco(fn)


def compile_math(module, wrap, **overrides):
    """Every plain function of a math module (losses.py, rules.py) compiled by `wrap`.

    The copies see each other's compiled versions as globals, so math functions
    may call one another.  `wrap` is e.g. ``cpu_function`` or
    ``numba.cuda.jit(device=True)``: one source, every target.  `overrides` replace
    primitives for one target (the CPU's vectorisable exp_neg), already compiled.
    """
    glb = dict(module.__dict__)
    out = dict(overrides)
    for name, obj in module.__dict__.items():
        if name in overrides:
            continue
        if isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__:
            fn = types.FunctionType(obj.__code__, glb, obj.__name__, obj.__defaults__)
            fn.__qualname__ = obj.__qualname__
            fn.__doc__ = obj.__doc__
            out[name] = wrap(fn)
    glb.update(out)
    return types.SimpleNamespace(**out)


def read_view(a):
    """`a` as a writeable-typed view of the same memory, for a kernel that only reads it.

    Numba compiles a read-only array (a memmap opened "r", ``Series.to_numpy()``, a
    broadcast view) as a type of its own: a whole new specialisation of every driver
    (~20 s).  The drivers never write X or y, so they get this alias instead.  The
    caller keeps `a` alive for as long as the view is used.
    """
    if a.flags.writeable or a.size == 0:
        return a
    buf = (ctypes.c_char * a.nbytes).from_address(a.__array_interface__["data"][0])
    return np.frombuffer(buf, dtype=a.dtype).reshape(a.shape)


def cpu_function(fn):
    """Compile one plain Python math function for the CPU (cached, inlinable).

    Same error model as cpu_kernel: Numba's cache key ignores it, so every CPU
    build of a function must use one."""
    return njit(cache=True, nogil=True, fastmath=set(FASTMATH), error_model="numpy")(fn)


def rebind(modules, replacements, *, cache_tag=None):
    """Copies of every CPU kernel of `modules` in which the global names of
    `replacements` resolve to something else: the hooks of a driver skeleton.

    How a problem family gets its drivers without a second copy of their source: the
    copies keep their code; only, e.g., ``row_terms`` (a user's RowLoss) or ``evaluate``
    (Softmax) is replaced, and every reference from one module of the set to a kernel
    of the set goes to its copy.  Returns a namespace of the copies by name.

    cache_tag: the copies are cached on disk under their qualname + "__" + cache_tag
    (for the package's own hooks, whose source is fixed); None: not cached (user code).
    A tagged cache is keyed on the source file of each kernel, as every cached kernel.
    """
    new_of = {}
    globals_of = []
    out = {}
    for module in modules:
        glb = dict(module.__dict__)
        glb.update(replacements)
        globals_of.append(glb)
        for name, obj in module.__dict__.items():
            if (name in replacements or not isinstance(obj, CPUDispatcher)
                    or obj.py_func.__module__ != module.__name__):
                continue
            py = obj.py_func
            fn = types.FunctionType(py.__code__, glb, py.__name__, py.__defaults__,
                                    py.__closure__)
            fn.__qualname__ = py.__qualname__ + (f"__{cache_tag}" if cache_tag else "")
            opts = dict(obj.targetoptions)
            opts.pop("nopython", None)  # njit sets it; passing it again warns
            opts["cache"] = cache_tag is not None
            out[name] = new_of[id(obj)] = njit(**opts)(fn)
    for glb in globals_of:
        for name, obj in list(glb.items()):
            if name not in replacements and id(obj) in new_of:
                glb[name] = new_of[id(obj)]
    return types.SimpleNamespace(**out)


@intrinsic
def borrowed(typingctx, arr):
    """The same array view with no owner (meminfo NULL): Numba's reference counting of
    it becomes a no-op instead of an atomic on a cache line shared by all threads.

    Only for views that never outlive the kernel call that holds the real array.
    """
    if not isinstance(arr, nbtypes.Array):
        return None

    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, args[0])
        dst = context.make_array(sig.return_type)(context, builder)
        for field in ("nitems", "itemsize", "data", "shape", "strides", "parent"):
            setattr(dst, field, getattr(src, field))
        dst.meminfo = context.get_constant_null(nbtypes.MemInfoPointer(nbtypes.voidptr))
        return dst._getvalue()

    return arr(arr), codegen


@intrinsic
def prefetch(typingctx, arr, flat):
    """Hint the CPU to bring the cache line of element `flat` (a flat index into a
    C-contiguous array) toward L1, for reading soon.

    A hint only: no effect on results, and never a fault, even past the array's end
    (x86 and ARM prefetches ignore bad addresses), so callers need no bounds test.
    Used a few KB ahead of streaming row loops, where the hardware prefetcher alone
    left the loop short of the read bandwidth.
    """
    if not isinstance(arr, nbtypes.Array) or not isinstance(flat, nbtypes.Integer):
        return None

    def codegen(context, builder, sig, args):
        from llvmlite import ir
        from numba.core import cgutils
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        idx = context.cast(builder, args[1], sig.args[1], nbtypes.intp)
        ptr = builder.bitcast(builder.gep(ary.data, [idx]), ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        name = "llvm.prefetch." + ptr.type.intrinsic_name  # p0i8 or p0 (opaque pointers)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [ptr.type, i32, i32, i32]), name)
        # (address, read, locality 3 = keep in all cache levels, data cache)
        builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return nbtypes.none(arr, flat), codegen


@intrinsic
def is_single(typingctx, x):
    """True (a compile-time constant: the branch it guards is folded away) when x is a
    float32 scalar: for loops that may compute to float32 precision on float32 data."""
    if not isinstance(x, nbtypes.Float):
        return None
    single = x == nbtypes.float32

    def codegen(context, builder, sig, args):
        return context.get_constant(nbtypes.boolean, single)

    return nbtypes.boolean(x), codegen


@intrinsic
def load_relaxed(typingctx, arr, i):
    """arr[i] of a 1-D integer array, read from memory at every call (an atomic load,
    monotonic order): the compiler may not keep it in a register across a loop.

    For a value another thread changes while a kernel runs: the stop iteration that
    Ctrl-C sets to 0 (fastgd/runtime.py).
    """
    if (not isinstance(arr, nbtypes.Array) or arr.ndim != 1 or arr.layout != "C"
            or not isinstance(arr.dtype, nbtypes.Integer) or not isinstance(i, nbtypes.Integer)):
        return None

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        idx = context.cast(builder, args[1], sig.args[1], nbtypes.intp)
        ptr = builder.gep(ary.data, [idx])
        return builder.load_atomic(ptr, "monotonic", sig.args[0].dtype.bitwidth // 8)

    return arr.dtype(arr, i), codegen
