/**
 * Grad-CAM on a model built as TL exports one (a base, then a head model of its own), with weights
 * set so that the answer is known: the base passes each colour channel through (ReLU), and the
 * head says "red" from the red channel's mean and "blue" from the blue one's. An image with a red
 * square on its left and a blue one on its right must be explained by its left for "red" and by
 * its right for "blue", with the values Grad-CAM's formula gives.
 */
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/executor/backends/select.ts';
import { explainImage, heatmapImage } from '../../src/executor/explain.ts';
import { redLeftBlueRight, SIZE, twoColourModel } from './fixtures/two-colour.ts';

describe('explainImage (Grad-CAM)', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('finds each class where its colour is, with the values of the formula', async () => {
    const exported = twoColourModel();
    const image = await redLeftBlueRight();
    const red = await explainImage(exported, image);
    // The red square is larger: the model says red, so the likeliest class is explained.
    expect(red.label).toBe('red');
    expect(red.predicted.label).toBe('red');
    expect(red.map).toMatchObject({ rows: SIZE, cols: SIZE });
    const at = (e: typeof red, x: number, y: number) => e.map.values[y * SIZE + x]!;
    expect(at(red, 5, 15)).toBeCloseTo(1, 5);
    expect(at(red, 24, 15)).toBe(0);
    expect(at(red, 28, 2)).toBe(0);

    const blue = await explainImage(exported, image, { label: 'blue' });
    expect(blue.label).toBe('blue');
    expect(blue.predicted).toEqual(red.predicted);
    expect(blue.probability).toBeCloseTo(1 - red.probability, 5);
    expect(at(blue, 24, 15)).toBeCloseTo(1, 5);
    expect(at(blue, 5, 15)).toBe(0);

    // By the formula: d log p_red / d map_k = (w_k,red - sum_c p_c w_k,c) / cells, so the red map's
    // weight is 8 p_blue / cells and the blue map's -8 p_blue / cells; their sum, clipped at 0, is
    // the same on every cell of the red square and 0 elsewhere.
    expect(red.map.values.filter((v) => v > 0.999999).length).toBe(12 * 12);
    expect(red.map.values.filter((v) => v > 0).length).toBe(12 * 12);
  });

  it('lays the map over the image, enlarged to be seen', async () => {
    const exported = twoColourModel();
    const image = await redLeftBlueRight();
    const { map } = await explainImage(exported, image);
    const png = await heatmapImage(image, map);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([224, 224, 3]);
    // Blended half and half: the red square under the map's top (dark red) is red; black under its bottom (dark blue) is blue.
    const pixel = (x: number, y: number) => [...data.subarray((y * 224 + x) * 3, (y * 224 + x) * 3 + 3)];
    const [r1, g1, b1] = pixel(Math.round(5 * 7), Math.round(15 * 7));
    expect(r1!).toBeGreaterThan(180);
    expect(g1! + b1!).toBeLessThan(60);
    const [r2, g2, b2] = pixel(24 * 7, 2 * 7);
    expect(b2!).toBeGreaterThan(40);
    expect(r2! + g2!).toBe(0);
    expect((await heatmapImage(image, map, { minSide: 10 })).length).toBeLessThan(png.length);
  });

  it('refuses a label the model lacks, bytes that are no image, and a model without feature maps', async () => {
    const exported = twoColourModel();
    const image = await redLeftBlueRight();
    await expect(explainImage(exported, image, { label: 'green' })).rejects.toMatchObject({ code: 'unknown-label', message: "'green' is not one of the model's classes: red, blue" });
    await expect(explainImage(exported, new Uint8Array([1, 2, 3]))).rejects.toThrow(/not an image/);
    const flat = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [SIZE, SIZE, 3] }), tf.layers.dense({ units: 2, activation: 'softmax' })] });
    await expect(explainImage({ ...exported, model: flat }, image)).rejects.toMatchObject({ code: 'bad-export' });
  });
});
