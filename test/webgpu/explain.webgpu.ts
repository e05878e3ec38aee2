/**
 * Grad-CAM (`tl explain`) on webgpu: the model whose answer is known (test/executor/explain.test.ts)
 * gets the same maps as on wasm, read without a synchronous read (which webgpu in Node cannot do).
 */
import { describe, expect, it } from 'vitest';
import { explainImage } from '../../src/executor/explain.ts';
import { redLeftBlueRight, SIZE, twoColourModel } from '../executor/fixtures/two-colour.ts';
import { webgpuEnv } from './webgpu-env.ts';

const env = await webgpuEnv();

describe.skipIf(!env.ok)(`Grad-CAM on webgpu (${env.ok ? env.adapter : 'no adapter'})`, () => {
  it('finds red where the red square is and blue where the blue one is', async () => {
    const model = twoColourModel();
    const image = await redLeftBlueRight();
    const at = (values: Float32Array, x: number, y: number) => values[y * SIZE + x]!;
    const red = await explainImage(model, image);
    expect(red.label).toBe('red');
    expect(at(red.map.values, 5, 15)).toBeCloseTo(1, 4);
    expect(at(red.map.values, 24, 15)).toBe(0);
    expect(red.map.values.filter((v) => v > 0).length).toBe(12 * 12);
    const blue = await explainImage(model, image, { label: 'blue' });
    expect(at(blue.map.values, 24, 15)).toBeCloseTo(1, 4);
    expect(at(blue.map.values, 5, 15)).toBe(0);
    expect(blue.probability).toBeCloseTo(1 - red.probability, 4);
  });
});
