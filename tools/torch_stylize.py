#!/usr/bin/python3
"""Independent PyTorch optimisation baseline for `style-transfer` (issue: Adam and L-BFGS on GPU buffers).

Runs torch.optim.LBFGS(lr=1, history_size=100, no line search; "lbfgs-wolfe": line_search_fn='strong_wolfe') and
torch.optim.Adam(lr=10) on the loss of tools/torch_reference.py (same formulas as the engine), init = content,
default weights, and prints the total loss at the image reached after N iterations (one update per iteration; one
function evaluation each, or as many as the line search takes), as JSON.

    /usr/bin/python3 tools/torch_stylize.py --content A --style B --width 96 --height 64 --iterations 50 \
        --weights ../shared/weights/vgg19 [--dtype float32]

Both images are resized to exactly width x height (content) and the style's longer side = max(width, height),
with PIL LANCZOS; pass images already of that size to compare with the engine without resampling differences.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_reference as ref  # noqa: E402


def run(loss_fn, x0, optimizer_name, iterations, lr):
    x = x0.detach().clone().requires_grad_(True)
    if optimizer_name in ("lbfgs", "lbfgs-wolfe"):
        # max_iter=1: one iteration (and without line search one evaluation) per step(); state persists.
        search = "strong_wolfe" if optimizer_name == "lbfgs-wolfe" else None
        opt = torch.optim.LBFGS([x], lr=lr, history_size=100, max_iter=1, line_search_fn=search,
                                tolerance_grad=-1, tolerance_change=-1)
    else:
        opt = torch.optim.Adam([x], lr=lr)
    history = []

    def closure():
        opt.zero_grad()
        total = loss_fn(x)["total"]
        total.backward()
        history.append(total.item())
        return total

    for _ in range(iterations):
        opt.step(closure)
    with torch.no_grad():
        final = loss_fn(x)["total"].item()
    return final, history


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--content", required=True)
    p.add_argument("--style", required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--iterations", type=int, default=50)
    p.add_argument("--weights", default=os.environ.get("STYLE_TRANSFER_WEIGHTS", "../shared/weights/vgg19"))
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--optimizers", default="lbfgs,adam", help="comma-separated: lbfgs, lbfgs-wolfe, adam")
    args = p.parse_args()
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    vgg = ref.load_vgg19(args.weights, dtype=dtype)
    content = ref.preprocess(ref.resize_rgb(ref.load_rgb(args.content), args.width, args.height), dtype=dtype)
    style = ref.preprocess(ref.resize_longer_side(ref.load_rgb(args.style), max(args.width, args.height)), dtype=dtype)
    loss_fn = ref.StyleTransferLoss(vgg, content, style)
    out = {"width": args.width, "height": args.height, "iterations": args.iterations, "dtype": args.dtype}
    for name in args.optimizers.split(","):
        started = time.time()
        final, history = run(loss_fn, content, name, args.iterations, 10.0 if name == "adam" else 1.0)
        out[name] = {"final_total": final, "first_total": history[0], "evaluations": len(history), "seconds": round(time.time() - started, 1)}
        print(f"{name}: final total {final:.6g} ({out[name]['seconds']} s)", file=sys.stderr)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
