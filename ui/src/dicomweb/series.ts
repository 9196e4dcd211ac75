// From WADO-RS series metadata to what Cornerstone loads: wadors image ids in
// display order, and whether the series can be shown as a volume (MPR).
import { type DicomJson, Tag, num, nums, str } from './json.ts';

export interface SeriesImage {
  imageId: string;
  sopInstanceUID: string;
  /** 1-based frame number for multi-frame instances, 0 for single-frame ones. */
  frame: number;
  instanceNumber?: number;
  position?: [number, number, number];
  /** The metadata of its instance (shared by all frames of one instance). */
  metadata: DicomJson;
}

export interface SeriesLayout {
  images: SeriesImage[];
  modality: string;
  /** True when the images form one regular volume: CT/MR/PT, ≥ 3 slices, one orientation and size. */
  volume: boolean;
  /** Why the series is shown as a stack (when `volume` is false). */
  stackReason?: string;
}

/** The image id the Cornerstone WADO-RS loader fetches a frame with. */
export function wadorsImageId(root: string, study: string, series: string, sop: string, frame: number): string {
  return `wadors:${root.replace(/\/+$/, '')}/studies/${study}/series/${series}/instances/${sop}/frames/${frame}`;
}

const volumeModalities = new Set(['CT', 'MR', 'PT', 'NM']);

function cross(a: number[], b: number[]): [number, number, number] {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

/**
 * Orders a series' images and decides how to show it. Images with a
 * position are sorted along the slice normal (not by Instance Number,
 * which scanners do not always assign in space order); others by Instance
 * Number.
 */
export function layoutSeries(root: string, study: string, series: string, instances: DicomJson[]): SeriesLayout {
  const images: SeriesImage[] = [];
  for (const md of instances) {
    const sop = str(md, Tag.SOPInstanceUID);
    if (!sop) continue;
    const frames = num(md, Tag.NumberOfFrames) ?? 1;
    const ipp = nums(md, Tag.ImagePositionPatient);
    const instanceNumber = num(md, Tag.InstanceNumber);
    for (let f = 1; f <= Math.max(1, frames); f++) {
      images.push({
        imageId: wadorsImageId(root, study, series, sop, f),
        sopInstanceUID: sop,
        frame: frames > 1 ? f : 0,
        instanceNumber,
        position: ipp.length === 3 && frames <= 1 ? [ipp[0], ipp[1], ipp[2]] : undefined,
        metadata: md,
      });
    }
  }
  const modality = instances.length ? str(instances[0], Tag.Modality) : '';
  const iops = new Set(instances.map((md) => nums(md, Tag.ImageOrientationPatient).map((v) => v.toFixed(4)).join('\\')));
  const sizes = new Set(instances.map((md) => `${num(md, Tag.Rows)}x${num(md, Tag.Columns)}`));
  const iop = instances.length ? nums(instances[0], Tag.ImageOrientationPatient) : [];
  const allPositioned = images.length > 0 && images.every((im) => im.position);

  if (allPositioned && iop.length === 6 && iops.size === 1) {
    const n = cross(iop.slice(0, 3), iop.slice(3, 6));
    const d = (im: SeriesImage) => im.position![0] * n[0] + im.position![1] * n[1] + im.position![2] * n[2];
    images.sort((a, b) => d(a) - d(b) || (a.instanceNumber ?? 0) - (b.instanceNumber ?? 0));
  } else {
    images.sort((a, b) => (a.instanceNumber ?? 0) - (b.instanceNumber ?? 0) || a.frame - b.frame);
  }

  let stackReason: string | undefined;
  if (!volumeModalities.has(modality)) stackReason = `${modality || 'this modality'} is shown as images, not a volume`;
  else if (images.length < 3) stackReason = `${images.length} image${images.length === 1 ? '' : 's'}: too few for a volume`;
  else if (!allPositioned || iop.length !== 6) stackReason = 'the images have no patient position or orientation';
  else if (iops.size > 1) stackReason = 'the images have more than one orientation';
  else if (sizes.size > 1) stackReason = 'the images have different sizes';
  return { images, modality, volume: !stackReason, stackReason };
}
