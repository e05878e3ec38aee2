/**
 * Per-image affine transforms for the geometric augmentations (flip, rotate, zoom, translate,
 * crop), drawn from the JS rng and composed into one matrix per image so a batch is resampled
 * once, with one interpolation blur, however many geometric ops the plan lists.
 *
 * A matrix maps an OUTPUT pixel to the INPUT point it samples (the inverse warp), in coordinates
 * centred on the image centre ((W-1)/2, (H-1)/2), pixel centres at integers:
 *   inX = a*qx + b*qy + tx,  inY = c*qx + d*qy + ty
 * stored as [a, b, tx, c, d, ty].
 */
import type { AugmentOp } from '../../plan/schema.ts';
import type { Rng } from './rng.ts';

export type Affine = readonly [number, number, number, number, number, number];

export const IDENTITY: Affine = [1, 0, 0, 0, 1, 0];

export type GeometricOp = Extract<AugmentOp, { op: 'flip' | 'rotate' | 'zoom' | 'translate' | 'crop' }>;

export function isGeometric(op: AugmentOp): op is GeometricOp {
  return op.op === 'flip' || op.op === 'rotate' || op.op === 'zoom' || op.op === 'translate' || op.op === 'crop';
}

/**
 * `first ∘ second`: the transform that applies `first` to the image, then `second` to the result.
 * Because matrices are inverse warps, an output point goes through `second`'s map first.
 */
export function compose(first: Affine, second: Affine): Affine {
  const [a1, b1, t1, c1, d1, u1] = first;
  const [a2, b2, t2, c2, d2, u2] = second;
  return [
    a1 * a2 + b1 * c2,
    a1 * b2 + b1 * d2,
    a1 * t2 + b1 * u2 + t1,
    c1 * a2 + d1 * c2,
    c1 * b2 + d1 * d2,
    c1 * t2 + d1 * u2 + u1,
  ];
}

/** Rotates the content by `radians` about the centre. */
export function rotation(radians: number): Affine {
  const cos = Math.cos(radians);
  const sin = Math.sin(radians);
  return [cos, sin, 0, -sin, cos, 0];
}

/**
 * Draws one op's transform for one image. Sizes are in pixels. Conventions (Keras-like):
 * - flip: each enabled axis flips with probability 0.5 (`both`: the two axes independently);
 * - rotate: angle uniform in ±degrees;
 * - zoom: scale uniform in [1-factor, 1+factor] (above 1 the view widens: zoom out);
 * - translate: shift uniform in ±fraction of the width and, independently, of the height;
 * - crop: a window of (1-fraction) of each side at a uniform position inside the image, stretched
 *   back to full size.
 */
export function drawAffine(op: GeometricOp, rng: Rng, width: number, height: number): Affine {
  switch (op.op) {
    case 'flip': {
      const h = op.mode !== 'vertical' && rng.next() < 0.5;
      const v = op.mode !== 'horizontal' && rng.next() < 0.5;
      return [h ? -1 : 1, 0, 0, 0, v ? -1 : 1, 0];
    }
    case 'rotate':
      return rotation((rng.uniform(-op.degrees, op.degrees) * Math.PI) / 180);
    case 'zoom': {
      const k = rng.uniform(1 - op.factor, 1 + op.factor);
      return [k, 0, 0, 0, k, 0];
    }
    case 'translate': {
      const tx = rng.uniform(-op.fraction, op.fraction) * width;
      const ty = rng.uniform(-op.fraction, op.fraction) * height;
      return [1, 0, -tx, 0, 1, -ty];
    }
    case 'crop': {
      const k = 1 - op.fraction;
      const dx = (rng.uniform(-1, 1) * op.fraction * width) / 2;
      const dy = (rng.uniform(-1, 1) * op.fraction * height) / 2;
      return [k, 0, dx, 0, k, dy];
    }
  }
}

/** One composed transform per image, in plan order; null when the list has no geometric op. */
export function drawBatchAffines(
  ops: readonly GeometricOp[],
  rng: Rng,
  count: number,
  width: number,
  height: number,
): Affine[] | null {
  if (ops.length === 0) return null;
  const out: Affine[] = [];
  for (let i = 0; i < count; i++) {
    let m = IDENTITY;
    for (const op of ops) m = compose(m, drawAffine(op, rng, width, height));
    out.push(m);
  }
  return out;
}
