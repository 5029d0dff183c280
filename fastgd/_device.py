"""Which target runs a solve: the `device=` argument, else the arrays' own type."""


def resolve(device, *arrays):
    """'cpu' or 'cuda'; raises if the request cannot be met."""
    on_gpu = any(hasattr(a, "__cuda_array_interface__") for a in arrays if a is not None)
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
        from numba import cuda
    except ImportError as exc:  # pragma: no cover - numba always has the cuda module
        raise RuntimeError("device='cuda' needs numba-cuda: pip install 'fastgd[cuda]'") from exc
    try:
        available = cuda.is_available()
    except Exception:  # pragma: no cover
        available = False
    if not available:
        raise RuntimeError("device='cuda' needs an NVIDIA GPU with a working CUDA driver and "
                           "numba-cuda ('pip install fastgd[cuda]'); none was found "
                           f"({_cuda_reason()})")
    raise RuntimeError("device='cuda': the GPU target is not implemented in this version of "
                       "fastgd yet")


def _cuda_reason():
    import os
    if os.environ.get("NUMBA_DISABLE_CUDA") == "1":
        return "NUMBA_DISABLE_CUDA=1 is set"
    return "numba.cuda.is_available() is False: no GPU or no CUDA driver"
