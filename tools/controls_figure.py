#!/usr/bin/python3
"""Composes the docs pictures of issue 17 from CLI runs (docs/README: "Creative control").

Usage: /usr/bin/python3 tools/controls_figure.py DIR
DIR holds zero.png, colors.png, masks.png, reflect.png (128 px runs of the bundled cat, see README) and
mask_cat.png; writes docs/style-regions.png, docs/match-style-colors.png, docs/reflect-padding.png.
"""

import os
import sys

from PIL import Image, ImageDraw

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SAMPLES = "/work/shared/samples"


def row(images, labels, height):
    scaled = [im.convert("RGB").resize((round(im.width * height / im.height), height), Image.LANCZOS) for im in images]
    pad = 6
    width = sum(im.width for im in scaled) + pad * (len(scaled) + 1)
    out = Image.new("RGB", (width, height + 2 * pad + 16), "white")
    draw = ImageDraw.Draw(out)
    x = pad
    for im, label in zip(scaled, labels):
        out.paste(im, (x, pad))
        draw.text((x, height + pad + 2), label, fill="black")
        x += im.width + pad
    return out


def main():
    d = sys.argv[1]
    load = lambda name: Image.open(os.path.join(d, name))  # noqa: E731
    content = Image.open(os.path.join(ROOT, "samples/chelsea.png"))
    starry = Image.open(os.path.join(ROOT, "samples/starry_night.jpg"))
    graffiti = Image.open(os.path.join(SAMPLES, "graf1.png"))
    h = 128
    row([content, starry, graffiti, load("mask_cat.png"), load("masks.png")],
        ["content", "style 1", "style 2", "mask of style 1", "result"], h).save(os.path.join(ROOT, "docs/style-regions.png"))
    row([content, starry, load("zero.png"), load("colors.png")],
        ["content", "style", "plain", "--match-style-colors"], h).save(os.path.join(ROOT, "docs/match-style-colors.png"))
    zero, reflect = load("zero.png"), load("reflect.png")
    corner = lambda im, box: im.crop(box).resize((96, 96), Image.NEAREST)  # noqa: E731
    w, hh = zero.size
    boxes = [(0, 0, 24, 24), (w - 24, hh - 24, w, hh)]
    row([zero, reflect] + [corner(zero, b) for b in boxes] + [corner(reflect, b) for b in boxes],
        ["--padding zero", "--padding reflect", "zero: top left", "zero: bottom right", "reflect: top left", "reflect: bottom right"],
        h).save(os.path.join(ROOT, "docs/reflect-padding.png"))


if __name__ == "__main__":
    main()
