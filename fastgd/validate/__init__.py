"""Every check of user input, one small function per kind of argument, by audience:

- ``scalars``: numbers, counts, flags, choices, step sizes (every public function);
- ``arrays``: NumPy data, initial points, output buffers (problems, minimize, grad ops);
- ``buffers``: the 1-D buffers of the fused step ops (fastgd.ops), NumPy or CUDA;
- ``cuda``: CUDA arrays (validated on the device, no host copy).

All of them run before any kernel is called or any buffer written, and raise
ValueError/TypeError messages that name the argument and say what was expected.
"""
from .arrays import (  # noqa: F401
    CUDA_REAL_DATA, FLOAT_DTYPES, binary_labels, intercept_start, sample_weight, data_array, data_range, finite, fits_dtype, initial_point,
    kernel_array, layout, no_overlap, not_masked, out_array, same_dtype, shape,
)
from .shared import CUDA_SHARED_X, l2_values, target_shape  # noqa: F401
from .convert import array_view, target_array  # noqa: F401
from .buffers import FlatBuffer, flat_buffer, matching_buffers, numpy_step_buffers  # noqa: F401
from .cuda import (  # noqa: F401
    cuda_binary_labels, cuda_data_array, cuda_initial_point, cuda_interface, is_cuda_array,
    same_device,
)
from .minibatch import LR_SCHEDULES, MiniBatch, minibatch, minibatch_options  # noqa: F401
from .sparse import is_sparse  # noqa: F401  (no scipy import)
from .scalars import (  # noqa: F401
    betas, choice, count, finite_real, flag, learning_rate, method, method_eps, nonneg_real,
    positive_real, restart, step_count, thread_count, unit_interval,
)
