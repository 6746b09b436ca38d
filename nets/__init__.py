"""Parts B (NumPy, from scratch) and C (PyTorch) of the homework."""
