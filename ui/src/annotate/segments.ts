// The segment list: which (layer, value) of the labelmap each label's
// segment is. By default every segmentation label of the schema has one
// segment on layer 0 (value = its place in the schema); a loaded revision
// (an import from DICOM SEG or RTSTRUCT, say) says where its segments are,
// overlapping ones on layers beyond 0; and the reader can add a segment
// on a new layer to paint over other segments. Plain data, unit-tested.
import type { Item, Label } from '../api/client.ts';

/**
 * One segment: the voxels of `layer` holding `value` (annotation.go
 * SegmentRef). Overlapping segments are on different layers.
 */
export interface Segment {
  layer: number;
  value: number;
  label: Label;
  /** The id of its segmentation item (kept from a loaded revision, e.g. an import's `segment-1-2`). */
  itemId?: string;
  color: [number, number, number];
  visible: boolean;
  locked: boolean;
}

/** A label's #rrggbb colour as RGB (yellow when it is not one). */
export function hexColor(hex: string): [number, number, number] {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  return m ? [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)] : [255, 255, 0];
}

export const segmentKey = (s: Pick<Segment, 'layer' | 'value'>) => `${s.layer}:${s.value}`;

/** Where a segment's voxels are, for the reader: its value, and its layer when not 0. */
export const segmentPlace = (s: Pick<Segment, 'layer' | 'value'>) => (s.layer ? `layer ${s.layer} · ${s.value}` : `${s.value}`);

/** One segment on layer 0 per label that allows segmentation, valued by schema order. */
export function defaultSegments(labels: readonly Label[]): Segment[] {
  return labels
    .filter((l) => !l.kinds || l.kinds.includes('segmentation'))
    .map((l, i) => ({ layer: 0, value: i + 1, label: l, color: hexColor(l.color), visible: true, locked: false }));
}

/**
 * The segments of a revision's segmentation items (their layer, value,
 * label and item id), then a default segment for every other label, on a
 * layer-0 value no item uses. Display state (visibility, lock) is kept
 * from `current` for the same (layer, value) and label.
 */
export function segmentsFromItems(labels: readonly Label[], items: readonly Item[], current: readonly Segment[] = []): Segment[] {
  const out: Segment[] = [];
  const used = new Set<string>();
  for (const it of items) {
    if (it.kind !== 'segmentation' || !it.segment) continue;
    const label = labels.find((l) => l.id === it.label);
    const key = segmentKey(it.segment);
    if (!label || used.has(key)) continue;
    used.add(key);
    out.push({ layer: it.segment.layer, value: it.segment.value, label, itemId: it.id, color: hexColor(label.color), visible: true, locked: false });
  }
  const labelled = new Set(out.map((s) => s.label.id));
  for (const d of defaultSegments(labels)) {
    if (labelled.has(d.label.id)) continue;
    let value = d.value;
    while (used.has(segmentKey({ layer: 0, value }))) value++;
    if (value > 255) continue;
    used.add(segmentKey({ layer: 0, value }));
    out.push({ ...d, value });
  }
  return out.map((s) => {
    const was = current.find((c) => segmentKey(c) === segmentKey(s) && c.label.id === s.label.id);
    return was ? { ...s, visible: was.visible, locked: was.locked } : s;
  });
}

/**
 * A new segment of a label on a layer of its own (one above the highest in
 * use), so that painting it never overwrites another segment's voxels.
 */
export function overlappingSegment(segments: readonly Segment[], label: Label): Segment {
  const layer = Math.max(0, ...segments.map((s) => s.layer)) + 1;
  return { layer, value: 1, label, color: hexColor(label.color), visible: true, locked: false };
}

/**
 * The segmentation item a segment is saved as (when it has voxels): its
 * id is the loaded revision's, else made from its label and layer, so an
 * answer about it keeps pointing at it from one save to the next.
 */
export function segmentItem(s: Segment): Item {
  return {
    id: s.itemId ?? (s.layer === 0 ? `seg-${s.label.id}` : `seg-${s.label.id}-layer${s.layer}`),
    kind: 'segmentation' as const,
    label: s.label.id,
    source: { type: 'human' },
    segment: { layer: s.layer, value: s.value },
  };
}

/** One segmentation item per segment whose value is present in its layer. */
export function segmentItems(layers: ReadonlyMap<number, Uint8Array>, segments: readonly Segment[]): Item[] {
  const present = new Map<number, Set<number>>();
  for (const [layer, bytes] of layers) {
    const values = new Set<number>();
    for (let i = 0; i < bytes.length; i++) if (bytes[i]) values.add(bytes[i]);
    present.set(layer, values);
  }
  return segments.filter((s) => present.get(s.layer)?.has(s.value)).map(segmentItem);
}
