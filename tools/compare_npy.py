#!/usr/bin/python3
"""Compares two .npy arrays, e.g. the product's --grad-out against the oracle's.

Usage: /usr/bin/python3 tools/compare_npy.py A.npy B.npy
Prints the relative L2 error ||a - b|| / ||b|| (B is the reference) and the
max absolute difference, computed in float64.
"""

import sys

import numpy as np


def compare(a, b):
    """(relative L2 error of a against b, max |a - b|)."""
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    norm_b = np.linalg.norm(b)
    err = np.linalg.norm(a - b)
    rel = err / norm_b if norm_b > 0 else (0.0 if err == 0 else float("inf"))
    return rel, float(np.max(np.abs(a - b))) if a.size else 0.0


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[2])
    a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
    rel, max_abs = compare(a, b)
    print(f"shape {list(a.shape)}  relative L2 error {rel:.3e}  max abs diff {max_abs:.3e}"
          f"  (||b|| = {np.linalg.norm(b.astype(np.float64)):.6e})")


if __name__ == "__main__":
    main()
