import { describe, expect, it } from 'vitest';
import { boxFromDrag, clampToVolume, isSolid, moveCorner, normalizeBox, sectionOf, translateInPlane, viewAxis } from './box3d.ts';

describe('3D box geometry', () => {
  const box = { min: [-20, -10, -20] as [number, number, number], max: [20, 30, 10] as [number, number, number] };

  it('finds the LPS axis of orthogonal views only', () => {
    expect(viewAxis([0, 0, -1])).toBe(2);
    expect(viewAxis([1, 0, 0])).toBe(0);
    expect(viewAxis([0, Math.SQRT1_2, Math.SQRT1_2])).toBeUndefined();
  });

  it('cuts an axial, a coronal and a sagittal section, and misses planes outside', () => {
    expect(sectionOf(box, [0, 0, 1], [5, 5, 0])?.corners).toEqual([[-20, -10, 0], [20, -10, 0], [20, 30, 0], [-20, 30, 0]]);
    expect(sectionOf(box, [0, 1, 0], [0, 12, 0])?.corners).toEqual([[-20, 12, -20], [20, 12, -20], [20, 12, 10], [-20, 12, 10]]);
    expect(sectionOf(box, [1, 0, 0], [-20, 0, 0])?.corners[2]).toEqual([-20, 30, 10]);
    expect(sectionOf(box, [0, 0, 1], [0, 0, 10.5])).toBeUndefined();
    expect(sectionOf(box, [0, 0.6, 0.8], [0, 0, 0])).toBeUndefined();
  });

  it('draws a box as deep as the shorter side of the dragged rectangle, centred on the plane', () => {
    expect(boxFromDrag(2, [20, 30, 4], [-20, -10, 4])).toEqual({ min: [-20, -10, -16], max: [20, 30, 24] });
    expect(boxFromDrag(1, [0, 7, 0], [10, 7, 30])).toEqual({ min: [0, 2, 0], max: [10, 12, 30] });
  });

  it('moves a corner within the plane and leaves the third extent', () => {
    // On a coronal view (axis P), corner 2 is (max L, max S).
    expect(moveCorner(box, 1, 2, [25, 99, 14])).toEqual({ min: [-20, -10, -20], max: [25, 30, 14] });
    expect(moveCorner(box, 2, 0, [-30, -15, 99])).toEqual({ min: [-30, -15, -20], max: [20, 30, 10] });
  });

  it('translates in the plane, normalises swapped corners and refuses flat boxes', () => {
    expect(translateInPlane(box, 2, [1, 2, 3])).toEqual({ min: [-19, -8, -20], max: [21, 32, 10] });
    expect(normalizeBox({ min: [5, -1, 3], max: [-5, 1, -3] })).toEqual({ min: [-5, -1, -3], max: [5, 1, 3] });
    expect(isSolid(box)).toBe(true);
    expect(isSolid({ min: [0, 0, 0], max: [1, 1, 0] })).toBe(false);
  });
});

describe('3D box on the volume', () => {
  // 10 × 10 × 5 voxels of 2 mm, first voxel centre at (−9, −9, −4).
  const toIndex = (p: number[]) => [(p[0] + 9) / 2, (p[1] + 9) / 2, (p[2] + 4) / 2];
  const toWorld = (i: number[]) => [i[0] * 2 - 9, i[1] * 2 - 9, i[2] * 2 - 4];
  it('moves corners off the volume onto its edge (half a voxel out) and leaves corners on it', () => {
    expect(clampToVolume({ min: [-30, -5, -4], max: [3, 40, 100] }, [10, 10, 5], toIndex, toWorld)).toEqual({ min: [-10, -5, -4], max: [3, 10, 5] });
    const inside = { min: [-3, -3, -1] as [number, number, number], max: [3, 3, 1] as [number, number, number] };
    expect(clampToVolume(inside, [10, 10, 5], toIndex, toWorld)).toEqual(inside);
  });
});
