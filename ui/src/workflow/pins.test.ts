import { describe, expect, it } from 'vitest';
import type { Comment } from '../api/client.ts';
import { PinBoard, centroid, describePin, halfSpacingAlong, nearestImage, onSlice, pinPosition, planeDistance, stackHalfSpacing } from './pins.ts';

const comment = (id: string, extra: Partial<Comment> = {}): Comment => ({
  id, author: 'reviewer', body: id, caseId: 'c', projectId: 'p', createdAt: '', updatedAt: '', resolved: false, version: 1, ...extra,
});

describe('pinned comments: geometry', () => {
  it('puts an item pin at the centre of its points and a point pin at its point', () => {
    expect(centroid([[0, 0, 0], [10, -20, 4]])).toEqual([5, -10, 2]);
    expect(centroid([])).toBeUndefined();
    const points = (id: string) => (id === 'len' ? ([[-40, -20, 0], [40, -20, 0]] as Array<[number, number, number]>) : undefined);
    expect(pinPosition({ item: 'len' }, points)).toEqual([0, -20, 0]);
    expect(pinPosition({ item: 'gone' }, points)).toBeUndefined();
    expect(pinPosition({ lps: [1, 2, 3], item: 'len' }, points)).toEqual([1, 2, 3]);
    expect(pinPosition({}, points)).toBeUndefined();
  });

  it('shows a pin only within half a slice of the plane', () => {
    const axial = { origin: [0, 0, 10], normal: [0, 0, 1], half: 1 };
    expect(planeDistance([5, 5, 12], axial.origin, axial.normal)).toBe(2);
    expect(onSlice([30, -7, 10.99], axial)).toBe(true);
    expect(onSlice([30, -7, 9], axial)).toBe(true);
    expect(onSlice([30, -7, 11.2], axial)).toBe(false);
    expect(onSlice([0, 0, 8.9], axial)).toBe(false);
  });

  it('takes half a slice from the volume spacing along the view normal', () => {
    const identity = [1, 0, 0, 0, 1, 0, 0, 0, 1];
    expect(halfSpacingAlong([0, 0, 1], identity, [0.7, 0.7, 2])).toBeCloseTo(1);
    expect(halfSpacingAlong([1, 0, 0], identity, [0.7, 0.7, 2])).toBeCloseTo(0.35);
    // A volume stacked the other way round: the direction's sign does not matter.
    expect(halfSpacingAlong([0, 0, 1], [1, 0, 0, 0, 1, 0, 0, 0, -1], [1, 1, 3])).toBeCloseTo(1.5);
  });

  it('takes half a slice of a stack from its nearer neighbour, and finds the nearest image', () => {
    const z = (v: number): [number, number, number] => [0, 0, v];
    expect(stackHalfSpacing([z(0), z(2), z(5)], 1, [0, 0, 1])).toBe(1);
    expect(stackHalfSpacing([z(0)], 0, [0, 0, 1], 0.5)).toBe(0.5);
    expect(stackHalfSpacing([undefined, z(4), z(4)], 1, [0, 0, 1], 0.25)).toBe(0.25);
    expect(nearestImage([z(-4), z(-2), z(0), z(2)], [0, 0, 1], [10, 10, -1.2])).toBe(1);
    expect(nearestImage([undefined, z(3)], [0, 0, 1], [0, 0, 0])).toBe(1);
  });

  it('describes where a comment is pinned', () => {
    expect(describePin({ lps: [1, -2.25, 0] }, [])).toBe('at (1.0, -2.3, 0.0) mm');
    expect(describePin({ item: 'a' }, [{ id: 'a', kind: 'ellipse_roi', label: 'lesion' }])).toBe('on the ellipse roi (lesion)');
    expect(describePin({ item: 'b' }, [])).toBe('on an item');
    expect(describePin({}, [])).toBe('');
  });
});

describe('pinned comments: the board', () => {
  it('places a point only while the user may pin, and tells listeners of real changes', () => {
    const b = new PinBoard();
    let calls = 0;
    b.subscribe(() => calls++);
    b.togglePlacing();
    expect(b.get().placing).toBe(false);
    b.update({ canPin: true });
    b.togglePlacing();
    expect(b.get().placing).toBe(true);
    b.place([1, 2, 3], { sopInstanceUID: '1.2.3' });
    expect(b.get()).toMatchObject({ placing: false, target: { kind: 'point', lps: [1, 2, 3], image: { sopInstanceUID: '1.2.3' } } });
    const before = calls;
    b.update({ canPin: true });
    expect(calls).toBe(before);
    b.reset();
    expect(b.get()).toMatchObject({ canPin: false, target: undefined, comments: [] });
  });

  it('jumps to the next pinned comment, open ones first, and counts every request', () => {
    const b = new PinBoard();
    b.update({ comments: [comment('case'), comment('p1', { lps: [0, 0, 0] }), comment('done', { item: 'x', resolved: true }), comment('p2', { item: 'y' })] });
    expect(b.nextPinned()).toBe('p1');
    b.jumpTo('p1');
    expect(b.nextPinned()).toBe('p2');
    b.jumpTo('p2');
    expect(b.nextPinned()).toBe('p1');
    b.jumpTo('p2');
    expect(b.get()).toMatchObject({ selected: 'p2', jump: 3 });
    b.update({ comments: [comment('done', { item: 'x', resolved: true })] });
    expect(b.nextPinned()).toBe('done');
    b.update({ comments: [comment('case')] });
    expect(b.nextPinned()).toBeUndefined();
  });
});
