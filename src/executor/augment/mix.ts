/**
 * Sample-mixing augmentations: mixup (Zhang et al. 2018) and cutmix (Yun et al. 2019).
 *
 * Each image is mixed with a partner drawn by a random permutation of the batch, with its own
 * weight λ ~ Beta(alpha, alpha); its one-hot label becomes λ·y + (1-λ)·y_partner, so labels stay
 * a distribution (sum 1) and the loss must accept soft targets (categorical cross-entropy does).
 */
import * as tf from '@tensorflow/tfjs';
import { CUTMIX_PASTE } from '../backends/webgpu/cutmix.ts';
import type { Rng } from './rng.ts';

type Mixed = { x: tf.Tensor4D; y: tf.Tensor2D };

/** x' = λx + (1-λ)x_partner and the same for labels. Must run inside `tf.tidy`. */
export function mixup(x: tf.Tensor4D, y: tf.Tensor2D, alpha: number, rng: Rng): Mixed {
  const n = x.shape[0];
  const partner = tf.tensor1d(rng.permutation(n), 'int32');
  const lam = new Float32Array(n);
  const rest = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    lam[i] = rng.beta(alpha, alpha);
    rest[i] = 1 - lam[i]!;
  }
  return {
    x: tf.add(tf.mul(x, tf.tensor4d(lam, [n, 1, 1, 1])), tf.mul(tf.gather(x, partner), tf.tensor4d(rest, [n, 1, 1, 1]))),
    y: tf.add(tf.mul(y, tf.tensor2d(lam, [n, 1])), tf.mul(tf.gather(y, partner), tf.tensor2d(rest, [n, 1]))),
  };
}

/** A pasted box, in pixels, end exclusive. */
export type Box = { x0: number; y0: number; x1: number; y1: number };

/**
 * The cutmix box for a mixing weight λ: a box of (1-λ) of the area centred at a uniform point,
 * clipped to the image, as in the paper's reference code.
 */
export function drawBox(lam: number, width: number, height: number, rng: Rng): Box {
  const r = Math.sqrt(1 - lam);
  const bw = Math.round(width * r);
  const bh = Math.round(height * r);
  const cx = rng.int(width);
  const cy = rng.int(height);
  const clamp = (v: number, hi: number): number => Math.min(Math.max(v, 0), hi);
  return {
    x0: clamp(cx - Math.floor(bw / 2), width),
    x1: clamp(cx + Math.ceil(bw / 2), width),
    y0: clamp(cy - Math.floor(bh / 2), height),
    y1: clamp(cy + Math.ceil(bh / 2), height),
  };
}

/**
 * Pastes a box of the partner image into each image; labels mix by the box's actual (clipped)
 * area. Must run inside `tf.tidy`.
 */
export function cutmix(x: tf.Tensor4D, y: tf.Tensor2D, alpha: number, rng: Rng): Mixed {
  const [n, h, w] = x.shape;
  const partner = tf.tensor1d(rng.permutation(n), 'int32');
  const boxes: Box[] = [];
  const keepLabel = new Float32Array(n);
  const takeLabel = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const box = drawBox(rng.beta(alpha, alpha), w, h, rng);
    boxes.push(box);
    const area = ((box.x1 - box.x0) * (box.y1 - box.y0)) / (w * h);
    keepLabel[i] = 1 - area;
    takeLabel[i] = area;
  }
  const labels = tf.add(tf.mul(y, tf.tensor2d(keepLabel, [n, 1])), tf.mul(tf.gather(y, partner), tf.tensor2d(takeLabel, [n, 1]))) as tf.Tensor2D;
  // A backend with a paste kernel of its own (webgpu) copies from the partner inside each box.
  if (tf.getKernel(CUTMIX_PASTE, tf.getBackend()) !== undefined) {
    const corners = tf.tensor2d(boxes.flatMap((b) => [b.x0, b.y0, b.x1, b.y1]), [n, 4], 'int32');
    return { x: tf.engine().runKernel(CUTMIX_PASTE, { x, partner, boxes: corners }) as tf.Tensor4D, y: labels };
  }
  const paste = new Float32Array(n * h * w);
  boxes.forEach((box, i) => {
    for (let r = box.y0; r < box.y1; r++) paste.fill(1, i * h * w + r * w + box.x0, i * h * w + r * w + box.x1);
  });
  const m = tf.tensor4d(paste, [n, h, w, 1]);
  // Masks of exact 0s and 1s: x*1 + p*0 reproduces x exactly, so pixels outside the box are untouched.
  return { x: tf.add(tf.mul(x, tf.sub(1, m)), tf.mul(tf.gather(x, partner), m)), y: labels };
}
