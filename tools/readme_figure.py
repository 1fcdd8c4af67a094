#!/usr/bin/python3
"""The README figure: content, style and result side by side, all at the result's height.

    /usr/bin/python3 tools/readme_figure.py samples/chelsea.png samples/starry_night.jpg out.png docs/cat-starry-night.png
"""
import sys

from PIL import Image

GAP = 6


def main():
    content_path, style_path, result_path, out_path = sys.argv[1:5]
    result = Image.open(result_path).convert("RGB")
    h = result.height

    def at_height(path):
        im = Image.open(path).convert("RGB")
        return im.resize((round(im.width * h / im.height), h), Image.LANCZOS)

    panels = [at_height(content_path), at_height(style_path), result]
    strip = Image.new("RGB", (sum(p.width for p in panels) + GAP * (len(panels) - 1), h), "white")
    x = 0
    for p in panels:
        strip.paste(p, (x, 0))
        x += p.width + GAP
    strip.save(out_path, optimize=True)


if __name__ == "__main__":
    main()
