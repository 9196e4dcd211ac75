import { describe, expect, test } from 'vitest';
import { changedSlices, decodeRuns, encodeRuns, type Grid, imagePointToLps, lpsToImagePoint, mapVolumeToGrid, nearestSlice, serverToVolume, volumeIndexToLps, volumeToServer, type VolumeFrame } from './geometry.ts';

// The small phantom CT: 128×128×64 voxels of 2 mm, origin (−128, −128, −64)
// (centre of the first pixel of the lowest slice), axial, slices ascending in z.
function phantomGrid(): Grid {
  const positions: Array<[number, number, number]> = [];
  for (let k = 0; k < 64; k++) positions.push([-127, -127, -63 + 2 * k]);
  return {
    columns: 128, rows: 128, rowDir: [1, 0, 0], colDir: [0, 1, 0], spacing: [2, 2, 2], positions,
    sopInstanceUIDs: positions.map((_, k) => `1.2.${k}`), frames: positions.map(() => 0),
  };
}

describe('image points follow the SCOORD convention', () => {
  const g = phantomGrid();
  test('pixel centres are at i + 0.5', () => {
    expect(lpsToImagePoint(g, 0, [-127, -127, -63])).toEqual([0.5, 0.5]);
    expect(lpsToImagePoint(g, 3, [-128, -128, -57])).toEqual([0, 0]);
    expect(lpsToImagePoint(g, 3, [1, -127, -57])).toEqual([64.5, 0.5]);
  });
  test('image → LPS → image is the identity', () => {
    const p = imagePointToLps(g, 10, [12.25, 99.75]);
    expect(lpsToImagePoint(g, 10, p)).toEqual([12.25, 99.75]);
    expect(p[2]).toBe(-43);
  });
  test('the nearest slice of an LPS point', () => {
    expect(nearestSlice(g, [0, 0, 1])).toEqual({ k: 32, distance: 0 });
    expect(nearestSlice(g, [5, 5, 1.6]).k).toBe(32);
  });
});

describe('Cornerstone volume voxels map onto the server grid', () => {
  const g = phantomGrid();
  const ascending: VolumeFrame = { dimensions: [128, 128, 64], origin: [-127, -127, -63], spacing: [2, 2, 2], direction: [[1, 0, 0], [0, 1, 0], [0, 0, 1]] };
  test('same order', () => {
    const m = mapVolumeToGrid(ascending, g);
    expect(m.serverSlice[0]).toBe(0);
    expect(m.serverSlice[63]).toBe(63);
    expect(volumeIndexToLps(ascending, [10, 20, 30])).toEqual([-107, -87, -3]);
  });
  test('a volume stacked the other way round', () => {
    const descending: VolumeFrame = { ...ascending, origin: [-127, -127, 63], direction: [[1, 0, 0], [0, 1, 0], [0, 0, -1]] };
    const m = mapVolumeToGrid(descending, g);
    expect(m.serverSlice[0]).toBe(63);
    expect(m.serverSlice[63]).toBe(0);
    // Voxel (5, 7) of volume slice 0 ends up in server slice 63.
    const vals = new Uint8Array(128 * 128 * 64);
    vals[7 * 128 + 5] = 9; // volume slice 0
    const server = volumeToServer(vals, m, 128, 128);
    expect(server[63 * 128 * 128 + 7 * 128 + 5]).toBe(9);
    const back = new Uint8Array(vals.length);
    serverToVolume(server, m, 128, 128, back);
    expect(back.every((v, i) => v === vals[i])).toBe(true);
  });
  test('a volume that is not the grid is refused', () => {
    expect(() => mapVolumeToGrid({ ...ascending, dimensions: [128, 128, 60] }, g)).toThrow(/grid is 128×128×64/);
    expect(() => mapVolumeToGrid({ ...ascending, origin: [-127, -127, -62] }, g)).toThrow(/on no slice/);
    expect(() => mapVolumeToGrid({ ...ascending, direction: [[0, 1, 0], [1, 0, 0], [0, 0, 1]] }, g)).toThrow(/not oriented/);
  });
});

describe('labelmap.EncodeRuns', () => {
  test('matches the Go encoder byte for byte', () => {
    // labelmap.EncodeRuns of 100 zeros, 150 threes, 50 zeros.
    const s = new Uint8Array(300);
    s.fill(3, 100, 250);
    expect([...encodeRuns(s)]).toEqual([0, 99, 3, 149, 1, 0, 49]);
  });
  test('round trips, with long runs', () => {
    const s = new Uint8Array(512 * 512);
    s.fill(7, 1000, 70000);
    s[5] = 255;
    const d = decodeRuns(encodeRuns(s), s.length);
    expect(d.every((v, i) => v === s[i])).toBe(true);
    expect(encodeRuns(new Uint8Array(0)).length).toBe(0);
  });
  test('bad codes are refused', () => {
    expect(() => decodeRuns(Uint8Array.from([0, 9]), 5)).toThrow(/does not fit/);
    expect(() => decodeRuns(Uint8Array.from([0, 1]), 5)).toThrow(/covers 2 of 5/);
    expect(() => decodeRuns(Uint8Array.from([0, 0x80]), 5)).toThrow(/inside a run length/);
  });
  test('only changed slices are sent', () => {
    const saved = new Uint8Array(4 * 4 * 3);
    const cur = saved.slice();
    cur[16 + 5] = 2;
    const d = changedSlices(saved, cur, 4, 4);
    expect(Object.keys(d)).toEqual(['1']);
    const bytes = Uint8Array.from(atob(d['1']), (c) => c.charCodeAt(0));
    expect(decodeRuns(bytes, 16)[5]).toBe(2);
    // Without a saved state, only non-empty slices.
    expect(Object.keys(changedSlices(undefined, cur, 4, 4))).toEqual(['1']);
    // Clearing a slice sends it (all zero clears it on the server).
    expect(Object.keys(changedSlices(cur, saved, 4, 4))).toEqual(['1']);
  });
});
