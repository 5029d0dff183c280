"""Which target runs a solve: the `device=` argument, else the arrays' own type."""


def cuda_interface(a):
    """The __cuda_array_interface__ of a GPU array (numba, CuPy, torch CUDA), the array
    interface of a CUDA-simulator device array (which has none), else None."""
    if a is None or type(a).__module__ == "numpy":
        return None
    iface = getattr(a, "__cuda_array_interface__", None)
    if iface is not None:
        return iface
    if getattr(type(a), "__cuda_ndarray__", False):
        return a.__array_interface__
    return None


def is_cuda_array(a):
    """The one test of "this array lives on a GPU" (see cuda_interface)."""
    return cuda_interface(a) is not None


def resolve(device, *arrays):
    """'cpu' or 'cuda'; raises if the request cannot be met."""
    on_gpu = any(is_cuda_array(a) for a in arrays)
    if device is None:
        device = "cuda" if on_gpu else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or None, got {device!r}")
    if device == "cuda":
        require_cuda()
    elif on_gpu:
        raise ValueError("device='cpu' but the data are GPU arrays; pass NumPy arrays or "
                         "device='cuda'")
    return device


def require_cuda():
    """Raise RuntimeError naming what is missing for the GPU target."""
    try:
        import numba_cuda  # noqa: F401  (the maintained CUDA target, not numba's old built-in)
        from numba import cuda
    except ImportError as exc:
        raise RuntimeError("device='cuda' needs the numba-cuda package: "
                           "pip install 'fastgd[cuda]'") from exc
    try:
        available = cuda.is_available()
    except Exception:  # pragma: no cover
        available = False
    if not available:
        raise RuntimeError("device='cuda' needs an NVIDIA GPU with a working CUDA driver and "
                           "numba-cuda ('pip install fastgd[cuda]'); none was found "
                           f"({_cuda_reason()})")


def _cuda_reason():
    import os
    if os.environ.get("NUMBA_DISABLE_CUDA") == "1":
        return "NUMBA_DISABLE_CUDA=1 is set"
    return "numba.cuda.is_available() is False: no GPU or no CUDA driver"
