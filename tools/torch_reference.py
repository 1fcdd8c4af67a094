#!/usr/bin/python3
"""Independent PyTorch oracle for the Gatys style-transfer loss.

It recomputes, with autograd and in float64 by default, exactly the loss
that the WebGPU product evaluates, so that the product's `evaluate` output
(and its --grad-out gradient) can be checked against a second implementation
that shares no code with it.  Only the weight files are shared.

Model: VGG-19's 16 conv layers (3x3, stride 1, padding 1, cross-correlation),
ReLU after each conv, 2x2 max pooling stride 2 (floor) after conv1_2, conv2_2,
conv3_4, conv4_4 and conv5_4.  Activations are named relu<block>_<i>.

Input x (the optimised variable): RGB uint8 -> float 0..255 -> BGR order ->
minus mean [103.939, 116.779, 123.68] (B, G, R), no /std; shape [3, H, W].

Loss, with c = preprocessed content image, s = preprocessed style image:
  content = content_weight * sum_l mean((F_l(x) - F_l(c))^2)
  style   = sum_l style_weight * 1 * mean((G_l(x) - G_l(s))^2),
            G = F F^T / (C*H*W) with F reshaped to C x (H*W)
  tv      = tv_weight * sum over neighbouring pairs, all channels, of
            (x[i+1,j]-x[i,j])^2 + (x[i,j+1]-x[i,j])^2
  total   = content + style + tv

Options of issue 17 (same definitions as the engine, written independently):
  --padding reflect: every conv pads by reflection (F.pad mode='reflect'),
      autograd gives the adjoint.
  --style-mask M (once per --style): style regions.  The mask in content
      space (grey value/255, colour: ITU-R 601 luma), average-pooled 2x2
      (floor) at every pool; per style k and layer l
        G~ = (F*m)(F*m)^T / (C * sum(m^2))  (0 when sum(m^2) = 0),
        term = style_weight * b_k * mean((G~ - G(s_k))^2),
      b_k the --style-blend-weights as given (default 1 each).
  --match-style-colors: the style image at its run size, RGB in 0..1,
      becomes A (x - mu_s) + mu_c, A = Sigma_c^(1/2) Sigma_s^(-1/2)
      (population covariance, numpy eigh, eigenvalues clamped at 1e-10),
      not clipped or rounded, then preprocessed.

Usage:
  /usr/bin/python3 tools/torch_reference.py --content A --style B [--image X] \
      --size N --weights DIR [--grad-out G.npy] [--content-weight W] \
      [--style-weight W] [--tv-weight W] [--content-layers relu4_2] \
      [--style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1] \
      [--style-size N] [--dtype float64|float32]

Prints one JSON line {"content","style","tv","total","width","height"}.
"""

import argparse
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

WEIGHTS_BIN = "vgg19_conv_hwio_f32.bin"
WEIGHTS_JSON = "vgg19_conv_hwio_f32.json"

# Caffe VGG mean, in B, G, R order.
BGR_MEAN = (103.939, 116.779, 123.68)

# Conv layers per block; a 2x2 max pool follows the last conv of every block.
VGG19_BLOCKS = [2, 2, 4, 4, 4]
CONV_NAMES = [f"conv{b + 1}_{i + 1}" for b, n in enumerate(VGG19_BLOCKS) for i in range(n)]

DEFAULT_CONTENT_LAYERS = ["relu4_2"]
DEFAULT_STYLE_LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
DEFAULT_CONTENT_WEIGHT = 5.0
DEFAULT_STYLE_WEIGHT = 100.0
DEFAULT_TV_WEIGHT = 1e-3


# ---------------------------------------------------------------- weights

def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_vgg19(weights_dir, dtype=torch.float64):
    """Returns {conv_name: (kernel OIHW, bias)} as torch tensors of `dtype`."""
    with open(os.path.join(weights_dir, WEIGHTS_JSON)) as f:
        meta = json.load(f)
    raw = np.fromfile(os.path.join(weights_dir, WEIGHTS_BIN), dtype="<u1")
    tensors = {}
    for t in meta["tensors"]:
        count = int(np.prod(t["shape"]))
        assert t["byteLength"] == 4 * count, t["name"]
        data = raw[t["byteOffset"]:t["byteOffset"] + t["byteLength"]].view("<f4")
        tensors[t["name"]] = data.reshape(t["shape"])
    layers = {}
    for name in CONV_NAMES:
        kernel_hwio = torch.from_numpy(tensors[name + "/kernel"].astype(np.float64))
        bias = torch.from_numpy(tensors[name + "/bias"].astype(np.float64))
        # HWIO -> OIHW; both the file and torch conv2d are cross-correlations,
        # so no spatial flip.
        layers[name] = (kernel_hwio.permute(3, 2, 0, 1).contiguous().to(dtype), bias.to(dtype))
    return layers


# ---------------------------------------------------------------- images

def load_rgb(path):
    """RGB uint8 array [H, W, 3]."""
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.uint8)


def round_half_up(v):
    # Like JavaScript's Math.round, not Python's banker's rounding.
    return int(math.floor(v + 0.5))


def scaled_size(width, height, size):
    """(w, h) with the longer side == size, the other rounded, at least 1."""
    if width >= height:
        return size, max(1, round_half_up(height * size / width))
    return max(1, round_half_up(width * size / height)), size


def resize_rgb(rgb, width, height):
    """Resizes with PIL LANCZOS; an image already at (width, height) is kept."""
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.LANCZOS), dtype=np.uint8)


def resize_longer_side(rgb, size):
    return resize_rgb(rgb, *scaled_size(rgb.shape[1], rgb.shape[0], size))


def preprocess(rgb, dtype=torch.float64):
    """RGB [H, W, 3] (uint8 0..255, or float 0..255 unrounded) -> BGR mean-subtracted tensor [3, H, W]."""
    bgr = torch.from_numpy(rgb[:, :, ::-1].astype(np.float64).copy()).permute(2, 0, 1)
    mean = torch.tensor(BGR_MEAN, dtype=torch.float64).view(3, 1, 1)
    return (bgr - mean).to(dtype).contiguous()


def mask_values(path_or_rgb, width, height):
    """A style mask [H, W] float64 in 0..1 at the content's size: grey value/255, colour ITU-R 601 luma/255."""
    rgb = load_rgb(path_or_rgb) if isinstance(path_or_rgb, str) else path_or_rgb
    rgb = resize_rgb(rgb, width, height).astype(np.float64)
    r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]
    grey = (r == g) & (g == b)
    return np.where(grey, r, 0.299 * r + 0.587 * g + 0.114 * b) / 255.0


def _sym_power(matrix, power):
    values, vectors = np.linalg.eigh(matrix)
    values = np.maximum(values, 1e-10) ** power
    return (vectors * values) @ vectors.T


def match_colors(style_rgb, content_rgb):
    """The style image (uint8 RGB at its run size) with the content's colour mean and covariance, as float RGB
    0..255 (unclipped, unrounded): x' = A (x - mu_s) + mu_c, A = Sigma_c^(1/2) Sigma_s^(-1/2), RGB in 0..1."""
    s = style_rgb.reshape(-1, 3).astype(np.float64) / 255.0
    c = content_rgb.reshape(-1, 3).astype(np.float64) / 255.0
    mu_s, mu_c = s.mean(0), c.mean(0)
    cov_s = (s - mu_s).T @ (s - mu_s) / len(s)
    cov_c = (c - mu_c).T @ (c - mu_c) / len(c)
    a = _sym_power(cov_c, 0.5) @ _sym_power(cov_s, -0.5)
    out = (s - mu_s) @ a.T + mu_c
    return (255.0 * out).reshape(style_rgb.shape)


# ---------------------------------------------------------------- model and loss

def conv3x3(h, kernel, bias, padding="zero"):
    if padding == "reflect":
        return F.conv2d(F.pad(h, (1, 1, 1, 1), mode="reflect"), kernel, bias, stride=1, padding=0)
    return F.conv2d(h, kernel, bias, stride=1, padding=1)


def layer_mask(mask, layer):
    """The mask [H, W] tensor at a relu layer: average-pooled 2x2 (floor) once per pool before it."""
    m = mask.unsqueeze(0).unsqueeze(0)
    for _ in range(int(layer[4]) - 1):
        m = F.avg_pool2d(m, kernel_size=2, stride=2)
    return m[0, 0]


def guided_gram(feature, mask):
    """(F*m)(F*m)^T / (C * sum(m^2)); zero when sum(m^2) = 0."""
    c, h, w = feature.shape
    flat = (feature * mask).reshape(c, h * w)
    norm = (mask * mask).sum()
    if norm.item() == 0:
        return feature.new_zeros((c, c))
    return flat @ flat.t() / (c * norm)


def features(x, vgg, layers, padding="zero"):
    """Activations {relu name: [C, H, W]} of x [3, H, W] for the named layers.

    Runs only as deep as the deepest requested layer.
    """
    wanted = set(layers)
    out = {}
    h = x.unsqueeze(0)
    for block, convs in enumerate(VGG19_BLOCKS):
        for i in range(convs):
            conv = f"conv{block + 1}_{i + 1}"
            kernel, bias = vgg[conv]
            h = F.relu(conv3x3(h, kernel, bias, padding))
            relu = "relu" + conv[4:]
            if relu in wanted:
                out[relu] = h[0]
                if len(out) == len(wanted):
                    return out
        h = F.max_pool2d(h, kernel_size=2, stride=2)  # floor mode
    missing = wanted - set(out)
    raise ValueError(f"unknown layers: {sorted(missing)}")


def gram(feature):
    """F F^T / (C*H*W) for feature [C, H, W]; C x C."""
    c, h, w = feature.shape
    flat = feature.reshape(c, h * w)
    return flat @ flat.t() / (c * h * w)


def total_variation(x):
    dy = x[:, 1:, :] - x[:, :-1, :]
    dx = x[:, :, 1:] - x[:, :, :-1]
    return (dy * dy).sum() + (dx * dx).sum()


class StyleTransferLoss:
    """The loss with the targets (content features, style Grams) precomputed."""

    def __init__(self, vgg, content, style, content_layers=DEFAULT_CONTENT_LAYERS,
                 style_layers=DEFAULT_STYLE_LAYERS, content_weight=DEFAULT_CONTENT_WEIGHT,
                 style_weight=DEFAULT_STYLE_WEIGHT, tv_weight=DEFAULT_TV_WEIGHT,
                 padding="zero", styles=None, masks=None, blend_weights=None):
        """`styles` (several style tensors) with `masks` ([H, W] tensors, one per style): style regions, terms
        "style/<layer>#k"; `padding`: "zero" or "reflect"."""
        self.vgg = vgg
        self.padding = padding
        self.masks = masks
        self.content_layers = list(content_layers)
        self.style_layers = list(style_layers)
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        styles = styles if styles is not None else [style]
        self.blend = blend_weights or [1.0] * len(styles)
        with torch.no_grad():
            self.content_targets = features(content, vgg, self.content_layers, padding)
            per_style = [{k: gram(v) for k, v in features(s, vgg, self.style_layers, padding).items()} for s in styles]
            if masks is None:
                total = sum(self.blend)
                self.style_grams = {l: sum(b / total * g[l] for b, g in zip(self.blend, per_style)) for l in self.style_layers}
            else:
                assert len(masks) == len(styles)
                self.region_grams = per_style

    def __call__(self, x):
        """Dict of scalar tensors: content, style, tv, total, content/<l>, style/<l> (regions: style/<l>#k)."""
        acts = features(x, self.vgg, self.content_layers + self.style_layers, self.padding)
        terms = {}
        for layer in self.content_layers:
            diff = acts[layer] - self.content_targets[layer]
            terms["content/" + layer] = self.content_weight * (diff * diff).mean()
        style_keys = []
        if self.masks is None:
            for layer in self.style_layers:
                diff = gram(acts[layer]) - self.style_grams[layer]
                terms["style/" + layer] = self.style_weight * 1.0 * (diff * diff).mean()
                style_keys.append("style/" + layer)
        else:
            for k, mask in enumerate(self.masks):
                for layer in self.style_layers:
                    diff = guided_gram(acts[layer], layer_mask(mask, layer)) - self.region_grams[k][layer]
                    key = f"style/{layer}#{k}"
                    terms[key] = self.style_weight * self.blend[k] * (diff * diff).mean()
                    style_keys.append(key)
        zero = x.new_zeros(())
        terms["content"] = sum((terms["content/" + l] for l in self.content_layers), zero)
        terms["style"] = sum((terms[k] for k in style_keys), zero)
        terms["tv"] = self.tv_weight * total_variation(x)
        terms["total"] = terms["content"] + terms["style"] + terms["tv"]
        return terms


def loss_and_grad(loss_fn, x):
    """(terms as Python floats, d(total)/dx as a tensor [3, H, W])."""
    x = x.detach().clone().requires_grad_(True)
    terms = loss_fn(x)
    (grad,) = torch.autograd.grad(terms["total"], x)
    return {k: v.item() for k, v in terms.items()}, grad


# ---------------------------------------------------------------- CLI

def parse_layers(text):
    return [name.strip() for name in text.split(",") if name.strip()]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--content", required=True)
    p.add_argument("--style", required=True, action="append", help="repeat for several styles")
    p.add_argument("--style-mask", action="append", help="once per --style: style regions")
    p.add_argument("--style-blend-weights", type=lambda t: [float(v) for v in t.split(",")])
    p.add_argument("--padding", choices=["zero", "reflect"], default="zero")
    p.add_argument("--match-style-colors", action="store_true")
    p.add_argument("--image", help="image to evaluate (default: the content image)")
    p.add_argument("--size", type=int, required=True, help="longer side of content (and x)")
    p.add_argument("--style-size", type=int,
                   help="longer side of the style image (default: --size)")
    p.add_argument("--weights", required=True, help="dir with " + WEIGHTS_BIN)
    p.add_argument("--grad-out", help="write d(total)/dx as float32 .npy [3,H,W], BGR")
    p.add_argument("--content-weight", type=float, default=DEFAULT_CONTENT_WEIGHT)
    p.add_argument("--style-weight", type=float, default=DEFAULT_STYLE_WEIGHT)
    p.add_argument("--tv-weight", type=float, default=DEFAULT_TV_WEIGHT)
    p.add_argument("--content-layers", type=parse_layers, default=DEFAULT_CONTENT_LAYERS)
    p.add_argument("--style-layers", type=parse_layers, default=DEFAULT_STYLE_LAYERS)
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = p.parse_args(argv)

    dtype = getattr(torch, args.dtype)
    started = time.perf_counter()
    vgg = load_vgg19(args.weights, dtype)

    content_rgb = resize_longer_side(load_rgb(args.content), args.size)
    height, width = content_rgb.shape[:2]
    style_rgbs = [resize_longer_side(load_rgb(s), args.style_size or args.size) for s in args.style]
    if args.match_style_colors:
        style_rgbs = [match_colors(s, content_rgb) for s in style_rgbs]
    image_rgb = resize_rgb(load_rgb(args.image), width, height) if args.image else content_rgb
    masks = None
    if args.style_mask:
        if len(args.style_mask) != len(args.style):
            p.error("--style-mask must be given once per --style")
        masks = [torch.from_numpy(mask_values(m, width, height)).to(dtype) for m in args.style_mask]

    styles = [preprocess(s, dtype) for s in style_rgbs]
    loss_fn = StyleTransferLoss(
        vgg, preprocess(content_rgb, dtype), styles[0],
        args.content_layers, args.style_layers,
        args.content_weight, args.style_weight, args.tv_weight,
        padding=args.padding, styles=styles, masks=masks, blend_weights=args.style_blend_weights)
    terms, grad = loss_and_grad(loss_fn, preprocess(image_rgb, dtype))

    if args.grad_out:
        np.save(args.grad_out, grad.numpy().astype(np.float32))
    print(json.dumps({k: terms[k] for k in ("content", "style", "tv", "total")}
                     | {"width": width, "height": height}
                     | {"terms": {k: v for k, v in terms.items() if "/" in k}}))
    print(f"torch_reference: {args.dtype}, {time.perf_counter() - started:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
