/**
 * The augmentation resampler on webgpu (one program computing positions on the GPU) against the
 * portable sampler on cpu (positions in JavaScript, gathers): flips, rotations, zooms, shifts and
 * crops composed as a plan composes them, odd and non-square sizes, 1 and 3 channels; contrast
 * (the backend's mean on webgpu against the exact pairwise mean); cutmix (a copying paste against
 * exact 0/1 masks).
 */
import * as tf from '@tensorflow/tfjs';
import { drawBatchAffines, type GeometricOp } from '../../../src/executor/augment/affine.ts';
import { cutmix } from '../../../src/executor/augment/mix.ts';
import { contrast } from '../../../src/executor/augment/photometric.ts';
import { createRng } from '../../../src/executor/augment/rng.ts';
import { sampleAffine } from '../../../src/executor/augment/sampler.ts';
import { sameOnBoth, type ParityCase } from '../parity.ts';

const o = { origin: { start: 0, end: 0, line: 1, column: 1 } };
const OPS: { name: string; ops: GeometricOp[] }[] = [
  { name: 'flip both', ops: [{ op: 'flip', mode: 'both', ...o }] },
  { name: 'rotate 15', ops: [{ op: 'rotate', degrees: 15, ...o }] },
  { name: 'rotate 180', ops: [{ op: 'rotate', degrees: 180, ...o }] },
  { name: 'flip, rotate 30, zoom 0.2', ops: [{ op: 'flip', mode: 'horizontal', ...o }, { op: 'rotate', degrees: 30, ...o }, { op: 'zoom', factor: 0.2, ...o }] },
  { name: 'translate 0.3, crop 0.2', ops: [{ op: 'translate', fraction: 0.3, ...o }, { op: 'crop', fraction: 0.2, ...o }] },
];
const SHAPES: [number, number, number, number][] = [[4, 9, 9, 3], [3, 16, 11, 1], [8, 32, 32, 3], [2, 1, 5, 2]];

/** Agreement expected: float32 positions against float64 ones, so rounding only. */
export const AUGMENT_TOLERANCE = 1e-5;

export function augmentCases(): ParityCase[] {
  const resampled = OPS.flatMap(({ name, ops }, i) =>
    SHAPES.map((shape, j) => {
      const [n, h, w] = shape;
      const transforms = drawBatchAffines(ops, createRng(100 * i + j), n, w, h)!;
      return sameOnBoth(`${name}: ${shape.join('x')}`, [shape], (x) => sampleAffine(x as tf.Tensor4D, transforms), 60 + j);
    }),
  );
  // contrast takes the backend's mean on webgpu, the exact pairwise one elsewhere.
  const contrasted = SHAPES.map((shape, j) =>
    sameOnBoth(`contrast 0.5: ${shape.join('x')}`, [shape], (x) => contrast(tf.div(tf.add(x!, 1), 2) as tf.Tensor4D, 0.5, [0, 1], createRng(j)), 80 + j),
  );
  return [...resampled, ...contrasted, ...cutmixCases()];
}

/** cutmix pastes by copying on webgpu, by exact 0/1 masks elsewhere: equal bit for bit. */
export function cutmixCases(): ParityCase[] {
  return SHAPES.map((shape, j) =>
    sameOnBoth(`cutmix 1.0, images and labels: ${shape.join('x')}`, [shape], (x) => {
      const labels = tf.oneHot(tf.tensor1d(Array.from({ length: shape[0] }, (_, i) => i % 5), 'int32'), 5) as tf.Tensor2D;
      const { x: xm, y: ym } = cutmix(x as tf.Tensor4D, labels, 1, createRng(40 + j));
      return [xm, ym];
    }, 90 + j),
  );
}
