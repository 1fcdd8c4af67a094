#!/usr/bin/env python3
"""Writes small safetensors files with an independent writer (numpy + json only, following the published format:
https://github.com/huggingface/safetensors#format), for test/weights-safetensors.test.ts to load with the project's
TypeScript reader. The `safetensors` package itself is not used (it cannot be installed here).

A tiny VGG-shaped stack with the project's names (conv1_1 3->4, conv1_2 4->4, conv2_1 4->6), HWIO kernels, values
from a formula the test recomputes:
  kernel[h][w][i][o] of layer l = ((l * 7 + h * 5 + w * 3 + i * 2 + o) % 11 - 5) / 8   (exact in f16 and f32)
  bias[o] of layer l          = -(l + o / 4)

Files (test/fixtures/safetensors/):
  tiny-f32.safetensors          F32 kernels and biases, Caffe convention declared, tensors written in reverse
                                name order (readers must use data_offsets, not file order)
  tiny-f16.safetensors          F16 kernels (numpy float16), F32 biases
  tiny-int8.safetensors         I8 kernels with one F32 scale per output channel (symmetric, max|w|/127)
  tiny-torchvision.safetensors  F32, but __metadata__ declares torchvision's RGB 0..1 normalised input
  tiny-no-convention.safetensors F32 without __metadata__

Usage: /usr/bin/python3 tools/make_safetensors_fixture.py [OUT_DIR]
"""
import json
import os
import struct
import sys

import numpy as np

LAYERS = [("conv1_1", 3, 4), ("conv1_2", 4, 4), ("conv2_1", 4, 6)]
CAFFE = {"input_convention": "caffe_bgr_0_255_mean_subtracted", "input_mean_bgr": "103.939,116.779,123.68", "kernel_layout": "hwio"}
DTYPE_NAMES = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16", np.dtype("i1"): "I8"}


def kernel(l, cin, cout):
    h, w, i, o = np.meshgrid(np.arange(3), np.arange(3), np.arange(cin), np.arange(cout), indexing="ij")
    return (((l * 7 + h * 5 + w * 3 + i * 2 + o) % 11 - 5) / 8).astype("<f4")


def bias(l, cout):
    return (-(l + np.arange(cout) / 4)).astype("<f4")


def write(path, tensors, metadata, reverse=False):
    """tensors: list of (name, array). Data laid out in list order (or reversed); header keys sorted by name."""
    order = list(reversed(tensors)) if reverse else tensors
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    blobs = []
    for name, array in order:
        raw = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": DTYPE_NAMES[array.dtype], "shape": list(array.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(dict(sorted(header.items())), separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "safetensors")
    os.makedirs(out, exist_ok=True)
    f32, f16, i8 = [], [], []
    for l, (name, cin, cout) in enumerate(LAYERS):
        k, b = kernel(l, cin, cout), bias(l, cout)
        f32 += [(f"{name}/kernel", k), (f"{name}/bias", b)]
        f16 += [(f"{name}/kernel", k.astype("<f2")), (f"{name}/bias", b)]
        scale = (np.abs(k).reshape(-1, cout).max(axis=0) / 127).astype("<f4")
        q = np.clip(np.round(k / scale), -127, 127).astype("i1")
        i8 += [(f"{name}/kernel", q), (f"{name}/kernel_scale", scale), (f"{name}/bias", b)]
    write(os.path.join(out, "tiny-f32.safetensors"), f32, {**CAFFE, "precision": "f32"}, reverse=True)
    write(os.path.join(out, "tiny-f16.safetensors"), f16, {**CAFFE, "precision": "f16"})
    write(os.path.join(out, "tiny-int8.safetensors"), i8, {**CAFFE, "precision": "int8"})
    write(os.path.join(out, "tiny-torchvision.safetensors"), f32, {"input_convention": "torchvision_rgb_0_1_imagenet_normalized"})
    write(os.path.join(out, "tiny-no-convention.safetensors"), f32, None)
    for n in sorted(os.listdir(out)):
        print(f"{n}: {os.path.getsize(os.path.join(out, n))} bytes")


if __name__ == "__main__":
    main()
