/**
 * The demo's style-region mask: a canvas over the content preview, painted with pointer events (mouse, pen and touch
 * alike) or changed from the keyboard through region presets, invert and clear. The canvas's alpha is the mask (255
 * where painted); its colour only shows the region. `masks()` turns it into the greyscale masks the element takes:
 * white where painted (the first style) and the inverse (the second style).
 */

/** Parts of the photo the keyboard can paint or erase in one go. */
export const MASK_REGIONS = {
  left: 'Left half',
  right: 'Right half',
  top: 'Top half',
  bottom: 'Bottom half',
  centre: 'Centre (middle half of each side)',
  all: 'The whole photo',
} as const;
export type MaskRegion = keyof typeof MASK_REGIONS;

/** The mask's longer side at most: enough for a region, cheap to copy before each run. */
const MAX_MASK_SIDE = 512;
/** What paint looks like on the overlay (its alpha is what counts). */
const PAINT_COLOUR = '#ff2d95';

export class MaskPainter {
  /** Brush diameter as a fraction of the mask's longer side. */
  brushFraction = 0.1;
  /** Erase instead of paint. */
  erasing = false;
  /** Called after every change (a finished stroke, a region, invert, clear, a new size). */
  onChange: () => void = () => undefined;

  private readonly context: CanvasRenderingContext2D;
  private last: { x: number; y: number } | undefined;
  private activePointer: number | undefined;

  constructor(readonly canvas: HTMLCanvasElement) {
    this.context = canvas.getContext('2d', { willReadFrequently: true })!;
    canvas.addEventListener('pointerdown', (event) => this.pointerDown(event));
    canvas.addEventListener('pointermove', (event) => this.pointerMove(event));
    canvas.addEventListener('pointerup', (event) => this.pointerEnd(event));
    canvas.addEventListener('pointercancel', (event) => this.pointerEnd(event));
  }

  /** Starts an empty mask for a photo of this size (the mask keeps its aspect ratio, at most MAX_MASK_SIDE). */
  resize(width: number, height: number): void {
    const scale = Math.min(1, MAX_MASK_SIDE / Math.max(width, height));
    this.canvas.width = Math.max(1, Math.round(width * scale));
    this.canvas.height = Math.max(1, Math.round(height * scale));
    this.onChange();
  }

  clear(): void {
    this.context.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.onChange();
  }

  /** Painted becomes unpainted and the other way round (soft edges stay soft). */
  invert(): void {
    const image = this.context.getImageData(0, 0, this.canvas.width, this.canvas.height);
    const [r, g, b] = [0xff, 0x2d, 0x95];
    for (let i = 0; i < image.data.length; i += 4) {
      image.data[i] = r;
      image.data[i + 1] = g;
      image.data[i + 2] = b;
      image.data[i + 3] = 255 - image.data[i + 3];
    }
    this.context.putImageData(image, 0, 0);
    this.onChange();
  }

  /** Paints (or erases, when erasing) one of the preset regions. */
  fillRegion(region: MaskRegion): void {
    const { width: w, height: h } = this.canvas;
    const rects: Record<MaskRegion, [number, number, number, number]> = {
      left: [0, 0, Math.round(w / 2), h],
      right: [Math.round(w / 2), 0, w - Math.round(w / 2), h],
      top: [0, 0, w, Math.round(h / 2)],
      bottom: [0, Math.round(h / 2), w, h - Math.round(h / 2)],
      centre: [Math.round(w / 4), Math.round(h / 4), Math.round(w / 2), Math.round(h / 2)],
      all: [0, 0, w, h],
    };
    this.withMode(() => this.context.fillRect(...rects[region]));
    this.onChange();
  }

  /** The share of the photo painted, 0..1 (soft edges count by their alpha). */
  paintedFraction(): number {
    const data = this.context.getImageData(0, 0, this.canvas.width, this.canvas.height).data;
    let sum = 0;
    for (let i = 3; i < data.length; i += 4) sum += data[i];
    return sum / (255 * (data.length / 4));
  }

  /** The greyscale masks: white where painted (`painted`), and its inverse (`unpainted`), at the mask's size. */
  masks(): { painted: HTMLCanvasElement; unpainted: HTMLCanvasElement } {
    const { width, height } = this.canvas;
    const alpha = this.context.getImageData(0, 0, width, height).data;
    const make = (value: (a: number) => number) => {
      const canvas = Object.assign(document.createElement('canvas'), { width, height });
      const context = canvas.getContext('2d')!;
      const image = context.createImageData(width, height);
      for (let i = 0; i < alpha.length; i += 4) {
        const v = value(alpha[i + 3]);
        image.data[i] = image.data[i + 1] = image.data[i + 2] = v;
        image.data[i + 3] = 255;
      }
      context.putImageData(image, 0, 0);
      return canvas;
    };
    return { painted: make((a) => a), unpainted: make((a) => 255 - a) };
  }

  private withMode(draw: () => void): void {
    const c = this.context;
    c.save();
    c.globalCompositeOperation = this.erasing ? 'destination-out' : 'source-over';
    c.fillStyle = c.strokeStyle = PAINT_COLOUR;
    draw();
    c.restore();
  }

  /** The event's position in mask pixels. */
  private point(event: PointerEvent): { x: number; y: number } {
    const box = this.canvas.getBoundingClientRect();
    return { x: ((event.clientX - box.left) / box.width) * this.canvas.width, y: ((event.clientY - box.top) / box.height) * this.canvas.height };
  }

  private stroke(to: { x: number; y: number }): void {
    const from = this.last ?? to;
    const width = Math.max(1, this.brushFraction * Math.max(this.canvas.width, this.canvas.height));
    this.withMode(() => {
      const c = this.context;
      c.lineWidth = width;
      c.lineCap = 'round';
      c.beginPath();
      c.moveTo(from.x, from.y);
      c.lineTo(to.x, to.y);
      c.stroke();
      c.beginPath();
      c.arc(to.x, to.y, width / 2, 0, 2 * Math.PI);
      c.fill();
    });
    this.last = to;
  }

  private pointerDown(event: PointerEvent): void {
    if (this.activePointer !== undefined || (event.pointerType === 'mouse' && event.button !== 0)) return;
    event.preventDefault();
    this.activePointer = event.pointerId;
    // Keeps the stroke's moves coming to the canvas when the pointer leaves it.
    try {
      this.canvas.setPointerCapture(event.pointerId);
    } catch {
      // A pointer the browser no longer knows (a synthetic event): the stroke still works while over the canvas.
    }
    this.last = undefined;
    this.stroke(this.point(event));
  }

  private pointerMove(event: PointerEvent): void {
    if (event.pointerId !== this.activePointer) return;
    // Every position since the last event (fast strokes stay continuous); synthetic events have none.
    const coalesced = event.getCoalescedEvents?.() ?? [];
    for (const e of coalesced.length ? coalesced : [event]) this.stroke(this.point(e));
  }

  private pointerEnd(event: PointerEvent): void {
    if (event.pointerId !== this.activePointer) return;
    this.activePointer = undefined;
    this.last = undefined;
    if (this.canvas.hasPointerCapture(event.pointerId)) this.canvas.releasePointerCapture(event.pointerId);
    this.onChange();
  }
}
