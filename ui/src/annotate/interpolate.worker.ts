// Runs the shape-based interpolation (interpolate.ts) off the main thread:
// a 512×512 slice pair takes tens of milliseconds per distance map.
import { type InterpolationInput, interpolateSlices } from './interpolate.ts';

const scope = self as unknown as Worker;
scope.addEventListener('message', (e: MessageEvent<InterpolationInput>) => {
  // A worker's postMessage goes to its owner only: it has no target origin.
  try {
    const filled = interpolateSlices(e.data);
    // oxlint-disable-next-line unicorn/require-post-message-target-origin
    scope.postMessage({ filled }, filled.map((f) => f.mask.buffer));
  } catch (err) {
    // oxlint-disable-next-line unicorn/require-post-message-target-origin
    scope.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
});
