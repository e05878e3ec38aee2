/**
 * Where in an image a model looked: Grad-CAM (Selvaraju et al., 2017) on a model `tl run`
 * exported. The base's last feature maps (what the head pools) are weighted by how much the
 * class's log-probability rises with each of them, averaged over the map, summed and clipped at 0:
 * a coarse map (3 × 3 to 7 × 7 cells for the zoo's bases) of the regions that raised that class.
 * Log-probability rather than probability, so that a confident prediction (softmax near 1, whose
 * gradients vanish) still gets a map.
 *
 * `heatmapImage` lays the map over the image as a PNG, from blue (nothing) to red (most).
 */
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { decodeImage } from './data/decode-image.ts';
import { ExecutorError } from './errors.ts';
import type { ExportedModel } from './predict.ts';
import { applyPreprocess } from './zoo/index.ts';

export interface Explanation {
  /** The class explained: `class` when given, else the likeliest. */
  readonly label: string;
  /** The model's probability for it. */
  readonly probability: number;
  /** The likeliest class and its probability. */
  readonly predicted: { readonly label: string; readonly probability: number };
  /** rows × cols cells, row-major, from 0 to 1 (1: the cell that raised the class most; all 0 when none did). */
  readonly map: { readonly rows: number; readonly cols: number; readonly values: Float32Array };
}

/**
 * Explains the model's answer for one encoded image (PNG, JPEG, ...), or with `label` why it
 * would say that class. Throws when the bytes are no image, the label is not one of the model's,
 * or the model has no feature maps before its head (an export from TL always has).
 */
export async function explainImage(exported: ExportedModel, bytes: Uint8Array, options: { readonly label?: string } = {}): Promise<Explanation> {
  const { model, labels, preprocess } = exported;
  const head = model.layers.at(-1);
  // The head is a model of its own applied to the base's output: its last inbound node is that
  // application (its first is its own input), so that node's input is the base's feature maps.
  const maps = head instanceof tf.LayersModel ? (head.getInputAt(head.inboundNodes.length - 1) as tf.SymbolicTensor) : null;
  if (!(head instanceof tf.LayersModel) || maps?.shape.length !== 4) {
    throw new ExecutorError('bad-export', 'the model has no convolutional feature maps before its head to explain; export it again with tl run');
  }
  const wanted = options.label === undefined ? null : labels.indexOf(options.label);
  if (wanted === -1) throw new ExecutorError('unknown-label', `'${options.label}' is not one of the model's classes: ${labels.join(', ')}`);

  const size = preprocess.inputSize;
  const pixels = await decodeImage(bytes, { size, fit: 'fill' });
  // The base as far as the head's input: the same layers and weights as the model, another output.
  const features = tf.model({ inputs: model.inputs, outputs: maps });
  const { maps: f, probs } = tf.tidy(() => {
    const x = applyPreprocess(tf.tensor4d(pixels, [1, size, size, 3], 'int32').toFloat(), preprocess);
    const fm = features.predict(x) as tf.Tensor4D;
    return { maps: fm, probs: head.apply(fm, { training: false }) as tf.Tensor2D };
  });
  try {
    // Read asynchronously: a GPU backend may not read synchronously (webgpu in Node cannot).
    const p = (await probs.data()) as Float32Array;
    const best = p.indexOf(Math.max(...p));
    const target = wanted ?? best;
    const map = tf.tidy(() => {
      const logProbability = (g: tf.Tensor) => tf.log(tf.slice(head.apply(g, { training: false }) as tf.Tensor2D, [0, target], [1, 1])).sum();
      const grads = tf.grad(logProbability)(f);
      const weights = tf.mean(grads, [1, 2], true); // 1 × 1 × 1 × channels
      const cam = tf.relu(tf.sum(tf.mul(f, weights), -1)).squeeze([0]); // rows × cols
      return tf.div(cam, tf.maximum(tf.max(cam), 1e-12));
    });
    const values = (await map.data()) as Float32Array;
    map.dispose();
    return {
      label: labels[target]!,
      probability: p[target]!,
      predicted: { label: labels[best]!, probability: p[best]! },
      map: { rows: f.shape[1], cols: f.shape[2], values },
    };
  } finally {
    f.dispose();
    probs.dispose();
  }
}

/**
 * The image with `map` over it as a PNG: the map stretched smoothly over the whole image (as the
 * model saw it, stretched to its square input), coloured blue to red and blended half and half.
 * Small images are enlarged to `minSide` (default 224) on their shorter side so the map can be seen.
 */
export async function heatmapImage(bytes: Uint8Array, map: Explanation['map'], options: { readonly minSide?: number } = {}): Promise<Buffer> {
  const image = sharp(bytes, { autoOrient: true, failOn: 'warning' });
  const meta = await image.metadata();
  const [w0, h0] = meta.autoOrient ? [meta.autoOrient.width, meta.autoOrient.height] : [meta.width!, meta.height!];
  const scale = Math.max(1, (options.minSide ?? 224) / Math.min(w0, h0));
  const [width, height] = [Math.round(w0 * scale), Math.round(h0 * scale)];
  const rgb = await image.resize(width, height, { fit: 'fill' }).removeAlpha().toColourspace('srgb').raw().toBuffer();
  const cells = Buffer.from(Uint8Array.from(map.values, (v) => Math.round(255 * v)));
  // Bilinear, cell centres on pixel centres, as the maps are drawn in the Grad-CAM paper.
  // sharp writes a resized single channel as three: keep one.
  const heat = await sharp(cells, { raw: { width: map.cols, height: map.rows, channels: 1 } }).resize(width, height, { fit: 'fill', kernel: 'linear' }).extractChannel(0).raw().toBuffer();
  const out = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const colour = jet(heat[i]! / 255);
    for (let c = 0; c < 3; c++) out[i * 3 + c] = (rgb[i * 3 + c]! + colour[c]!) / 2;
  }
  return sharp(out, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** The "jet" colour map: 0 dark blue, 0.5 green, 1 dark red. */
function jet(v: number): [number, number, number] {
  const c = (x: number) => Math.round(255 * Math.min(1, Math.max(0, x)));
  return [c(1.5 - Math.abs(4 * v - 3)), c(1.5 - Math.abs(4 * v - 2)), c(1.5 - Math.abs(4 * v - 1))];
}
