"""numba-cuda drivers.  Imported lazily, only when a GPU solve or op is asked for."""
