"""Checks of CUDA arrays (anything with __cuda_array_interface__: numba device arrays,
CuPy, torch CUDA tensors, and the CUDA simulator's arrays), without a host copy."""
from .._device import cuda_interface, is_cuda_array
from .arrays import layout, shape

__all__ = ["cuda_interface", "is_cuda_array", "cuda_data_array", "cuda_binary_labels",
           "cuda_initial_point", "same_device"]


def _as_cuda(name, a):
    """A zero-copy numba view of a CUDA array (raises RuntimeError without a usable GPU)."""
    from .. import _device
    _device.require_cuda()
    from numba import cuda
    if getattr(type(a), "__cuda_ndarray__", False):  # already a numba device array
        if type(a).__module__.startswith("numba.cuda.simulator"):
            from ..gpu.checks import simulator_view
            return simulator_view(a)
        return a
    try:
        return cuda.as_cuda_array(a)
    except Exception as exc:
        raise TypeError(f"{name}: could not read its __cuda_array_interface__ ({exc})") from None


def cuda_data_array(name, a, ndims):
    """As data_array, for a CUDA array: returns a zero-copy numba device array.

    Checks dtype, shape, size and C-contiguity from the interface, and NaN/Inf with a
    small reduction kernel on the device.
    """
    arr = _as_cuda(name, a)
    layout(name, arr.dtype, arr.shape, arr.is_c_contiguous(), ndims)
    from ..gpu.checks import has_nonfinite
    if has_nonfinite(arr):
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def cuda_binary_labels(name, y):
    """binary_labels for a device array (a reduction kernel, no host copy)."""
    from ..gpu.checks import has_nonbinary
    if has_nonbinary(y):
        raise ValueError(f"{name} must contain only labels 0 and 1")


def cuda_initial_point(x0, expected_shape, dtype, inplace):
    """initial_point for a CUDA x0: dtype, shape, C-contiguity (always: it is read in place),
    finite.  Returns x0 unchanged (the driver copies it unless inplace)."""
    arr = _as_cuda("x0", x0)
    if arr.dtype != dtype:
        raise TypeError(f"x0 must have the dtype of X ({dtype}), got {arr.dtype}")
    shape("x0", arr, expected_shape, " (the solution's shape)")
    if not arr.is_c_contiguous():
        raise ValueError("x0 must be C-contiguous")
    from ..gpu.checks import has_nonfinite
    if has_nonfinite(arr):
        raise ValueError("x0 contains NaN or Inf")
    return x0


def same_device(name, a, ref_name, ref):
    """Both NumPy arrays or both CUDA arrays."""
    if is_cuda_array(a) != is_cuda_array(ref):
        where = lambda v: "a GPU array" if is_cuda_array(v) else "a NumPy array"  # noqa: E731
        raise ValueError(f"{name} is {where(a)} but {ref_name} is {where(ref)}; "
                         f"they must live on the same device")
