"""Which target runs a solve: the `device=` argument, else the arrays' own type."""


def is_cuda_array(a):
    """A GPU array: __cuda_array_interface__ (numba, CuPy, torch CUDA) or a numba device
    array (the CUDA simulator's have no interface)."""
    if a is None or type(a).__module__ == "numpy":
        return False
    return hasattr(a, "__cuda_array_interface__") or getattr(type(a), "__cuda_ndarray__", False)


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
