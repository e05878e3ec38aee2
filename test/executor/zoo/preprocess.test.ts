import * as tf from '@tensorflow/tfjs';
import { beforeAll, expect, it } from 'vitest';
import { applyPreprocess, PREPROCESS_CAFFE, PREPROCESS_SYMMETRIC, PREPROCESS_UNIT } from '../../../src/executor/zoo/preprocess.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

async function pixel(p: typeof PREPROCESS_CAFFE): Promise<number[]> {
  const image = tf.tensor4d([10, 20, 255], [1, 1, 1, 3]);
  const out = applyPreprocess(image, p);
  const values = Array.from(await out.data());
  tf.dispose([image, out]);
  return values;
}

it('caffe mode swaps to BGR and subtracts the ImageNet mean, as keras preprocess_input does', async () => {
  const [b, g, r] = await pixel(PREPROCESS_CAFFE);
  expect(b).toBeCloseTo(255 - 103.939, 4);
  expect(g).toBeCloseTo(20 - 116.779, 4);
  expect(r).toBeCloseTo(10 - 123.68, 4);
});

it('symmetric mode maps 0..255 to -1..1 and unit mode to 0..1', async () => {
  const sym = await pixel(PREPROCESS_SYMMETRIC);
  expect(sym[0]).toBeCloseTo(10 / 127.5 - 1, 5);
  expect(sym[2]).toBeCloseTo(1, 5);
  const unit = await pixel(PREPROCESS_UNIT);
  expect(unit[1]).toBeCloseTo(20 / 255, 5);
});

it('leaves no tensors behind', async () => {
  const before = tf.memory().numTensors;
  await pixel(PREPROCESS_CAFFE);
  expect(tf.memory().numTensors).toBe(before);
});
