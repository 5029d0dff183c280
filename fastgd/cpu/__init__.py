"""Numba CPU drivers.  Importing this package compiles nothing (compilation is lazy)."""
