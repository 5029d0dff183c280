"""The one place that decides how CPU code is compiled."""
import types

from numba import njit
from numba.core.registry import CPUDispatcher

# No nnan/ninf (they delete NaN/Inf checks) and no nsz (with reassoc it folds
# isfinite to True).  reassoc lets reductions vectorise; contract allows FMA.
FASTMATH = frozenset({"contract", "arcp", "reassoc"})


def cpu_kernel(fn=None, *, parallel=False, error_model="python"):
    """njit with the project's options: cached, GIL released, safe fastmath.

    error_model="numpy" (x/0 gives inf/nan instead of raising) lets loops with
    divisions vectorise; the maths it calls must be compiled the same way.
    """
    deco = njit(cache=True, nogil=True, fastmath=set(FASTMATH), parallel=parallel,
                error_model=error_model)
    return deco if fn is None else deco(fn)


def compile_math(module, wrap):
    """Every plain function of a math module (losses.py, rules.py) compiled by `wrap`.

    The copies see each other's compiled versions as globals, so math functions
    may call one another.  `wrap` is e.g. ``cpu_function`` or
    ``numba.cuda.jit(device=True)``: one source, every target.
    """
    glb = dict(module.__dict__)
    out = {}
    for name, obj in module.__dict__.items():
        if isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__:
            fn = types.FunctionType(obj.__code__, glb, obj.__name__, obj.__defaults__)
            fn.__qualname__ = obj.__qualname__
            fn.__doc__ = obj.__doc__
            out[name] = wrap(fn)
    glb.update(out)
    return types.SimpleNamespace(**out)


def cpu_function(fn):
    """Compile one plain Python math function for the CPU (cached, inlinable)."""
    return njit(cache=True, nogil=True, fastmath=set(FASTMATH))(fn)


def rebind_module(module, **replacements):
    """Copies of every CPU kernel in `module` whose globals have `replacements`.

    Used to build the drivers for a user-defined row loss without a second copy of
    their source: the functions keep their code, only the name ``row_terms`` (and
    anything else given) resolves to something else.  Not cached on disk.
    """
    glb = dict(module.__dict__)
    glb.update(replacements)
    for name, obj in module.__dict__.items():
        if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == module.__name__:
            py = obj.py_func
            fn = types.FunctionType(py.__code__, glb, py.__name__, py.__defaults__, py.__closure__)
            opts = dict(obj.targetoptions)
            opts.pop("cache", None)
            glb[name] = njit(**opts)(fn)
    return types.SimpleNamespace(**glb)
