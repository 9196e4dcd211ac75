// Pixel statistics of a screenshot region, to tell a rendered image from a
// blank, black or flat viewport. The PNG is decoded by the browser itself
// (createImageBitmap), so no PNG decoder is needed in Node.

/** Thresholds a region must pass to count as showing an image. */
export const NOT_BLANK = Object.freeze({
  // Standard deviation of luma (0-255) over the region.
  minStdDev: 20,
  // Distinct luma levels: overlay text on black has few, a CT slice has hundreds.
  minDistinctLevels: 64,
  // Share of pixels brighter than luma 40: the image must fill part of the region.
  minBrightFraction: 0.05,
});

/**
 * Computes luma statistics of `png` (a Buffer) inside `rect` ({x, y, width,
 * height} in PNG pixels; the whole image when omitted), using `page` to decode.
 */
export async function regionStats(page, png, rect) {
  return page.evaluate(async ({ b64, rect }) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    const r = rect ?? { x: 0, y: 0, width: bmp.width, height: bmp.height };
    const x = Math.max(0, Math.floor(r.x));
    const y = Math.max(0, Math.floor(r.y));
    const w = Math.min(bmp.width - x, Math.floor(r.width));
    const h = Math.min(bmp.height - y, Math.floor(r.height));
    if (w <= 0 || h <= 0) return { width: 0, height: 0, pixels: 0 };
    const canvas = new OffscreenCanvas(w, h);
    const ctx = canvas.getContext('2d');
    ctx.drawImage(bmp, x, y, w, h, 0, 0, w, h);
    const data = ctx.getImageData(0, 0, w, h).data;
    const hist = new Uint32Array(256);
    let sum = 0;
    let sum2 = 0;
    let bright = 0;
    const n = w * h;
    for (let i = 0; i < data.length; i += 4) {
      const l = Math.round(0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2]);
      hist[l] += 1;
      sum += l;
      sum2 += l * l;
      if (l > 40) bright += 1;
    }
    const mean = sum / n;
    let min = 0;
    while (min < 255 && hist[min] === 0) min += 1;
    let max = 255;
    while (max > 0 && hist[max] === 0) max -= 1;
    return {
      x, y, width: w, height: h, pixels: n,
      meanLuma: Math.round(mean * 100) / 100,
      stdDevLuma: Math.round(Math.sqrt(Math.max(0, sum2 / n - mean * mean)) * 100) / 100,
      minLuma: min,
      maxLuma: max,
      distinctLevels: hist.filter((c) => c > 0).length,
      brightFraction: Math.round((bright / n) * 10000) / 10000,
    };
  }, { b64: png.toString('base64'), rect });
}

/** Returns the reasons why stats fail NOT_BLANK (empty when they pass). */
export function blankReasons(stats, t = NOT_BLANK) {
  const why = [];
  if (!stats || !stats.pixels) return ['the region is empty'];
  if (stats.stdDevLuma < t.minStdDev) why.push(`luma standard deviation ${stats.stdDevLuma} < ${t.minStdDev}`);
  if (stats.distinctLevels < t.minDistinctLevels) why.push(`${stats.distinctLevels} distinct luma levels < ${t.minDistinctLevels}`);
  if (stats.brightFraction < t.minBrightFraction) why.push(`bright pixel fraction ${stats.brightFraction} < ${t.minBrightFraction}`);
  return why;
}

/**
 * What counts as a segment's overlay. A pixel shows the segment colour when
 * its chroma (the pixel minus its grey level) points the way the colour's
 * does and is strong enough: grey CT under no overlay has no chroma at all,
 * a half-transparent overlay keeps about half of the colour's.
 */
export const SEGMENT_CRITERIA = Object.freeze({
  // Chroma along the segment colour's chroma direction, in 0-255 units.
  minChroma: 20,
  // Cosine between the pixel's chroma and the colour's.
  minCosine: 0.8,
  // Share of the lesion's box that must show the colour (a disc fills π/4 of its box).
  minInsideFraction: 0.4,
  // Coloured pixels allowed outside the box (beyond a margin), relative to those inside.
  maxOutsideRatio: 0.02,
});

/**
 * Counts the pixels of `png` that show the segment colour `color` ([r, g, b]
 * 0-255; null: any strongly coloured pixel, taking the dominant chroma
 * inside the box as the colour) inside `box` ({x0, y0, x1, y1}, page
 * pixels) and inside `canvas` ({x, y, width, height}) but farther than
 * `margin` pixels from the box.
 */
export async function segmentPixels(page, png, canvas, box, color, margin, t = SEGMENT_CRITERIA) {
  return page.evaluate(async ({ b64, canvas, box, color, margin, t }) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    const x0 = Math.max(0, Math.floor(canvas.x));
    const y0 = Math.max(0, Math.floor(canvas.y));
    const w = Math.min(bmp.width - x0, Math.floor(canvas.width));
    const h = Math.min(bmp.height - y0, Math.floor(canvas.height));
    const off = new OffscreenCanvas(w, h);
    const ctx = off.getContext('2d');
    ctx.drawImage(bmp, x0, y0, w, h, 0, 0, w, h);
    const data = ctx.getImageData(0, 0, w, h).data;
    const chroma = (r, g, b) => {
      const m = (r + g + b) / 3;
      return [r - m, g - m, b - m];
    };
    const inBox = (x, y, grow) => x >= box.x0 - grow && x <= box.x1 + grow && y >= box.y0 - grow && y <= box.y1 + grow;
    let dir = color ? chroma(...color) : null;
    if (!dir) {
      // No colour from the viewer: the mean chroma of the box's strongly coloured pixels.
      const sum = [0, 0, 0];
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          if (!inBox(x + x0 + 0.5, y + y0 + 0.5, 0)) continue;
          const i = 4 * (y * w + x);
          const c = chroma(data[i], data[i + 1], data[i + 2]);
          if (Math.hypot(...c) >= 2 * t.minChroma) c.forEach((v, k) => { sum[k] += v; });
        }
      }
      dir = sum;
    }
    const norm = Math.hypot(...dir);
    if (norm === 0) return { color, inside: 0, boxPixels: 0, insideFraction: 0, outside: 0, error: 'no segment colour to look for' };
    const unit = dir.map((v) => v / norm);
    let inside = 0;
    let boxPixels = 0;
    let outside = 0;
    const outsideBox = { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const px = x + x0 + 0.5;
        const py = y + y0 + 0.5;
        const i = 4 * (y * w + x);
        const c = chroma(data[i], data[i + 1], data[i + 2]);
        const along = c[0] * unit[0] + c[1] * unit[1] + c[2] * unit[2];
        const len = Math.hypot(...c);
        const coloured = along >= t.minChroma && len > 0 && along / len >= t.minCosine;
        if (inBox(px, py, 0)) {
          boxPixels += 1;
          if (coloured) inside += 1;
        } else if (!inBox(px, py, margin) && coloured) {
          outside += 1;
          outsideBox.x0 = Math.min(outsideBox.x0, px);
          outsideBox.y0 = Math.min(outsideBox.y0, py);
          outsideBox.x1 = Math.max(outsideBox.x1, px);
          outsideBox.y1 = Math.max(outsideBox.y1, py);
        }
      }
    }
    return {
      color, direction: unit.map((v) => Math.round(v * 1000) / 1000), margin,
      box, boxPixels, inside, insideFraction: boxPixels ? Math.round((inside / boxPixels) * 10000) / 10000 : 0,
      outside, outsideExtent: outside ? outsideBox : null,
    };
  }, { b64: png.toString('base64'), canvas, box, color, margin, t });
}
