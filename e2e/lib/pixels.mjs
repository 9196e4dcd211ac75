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
