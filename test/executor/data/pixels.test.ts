import { describe, expect, it } from 'vitest';
import { Pixels, subset, type ImageSet } from '../../../src/executor/data/index.ts';

/** Image i of `per` bytes holds i*per + 0, 1, ... (mod 256): every byte says where it belongs. */
const pattern = (count: number, per: number) => Uint8Array.from({ length: count * per }, (_, b) => b % 256);

describe('Pixels', () => {
  it('keeps images across chunks where they were written', () => {
    // 10 images of 12 bytes in chunks of 3 images (40 bytes hold 3): 4 chunks, the last one short.
    const pixels = Pixels.from(pattern(10, 12), 12, 40);
    expect([pixels.count, pixels.per]).toEqual([10, 12]);
    for (let i = 0; i < 10; i++) expect(Array.from(pixels.image(i))).toEqual(Array.from({ length: 12 }, (_, b) => (i * 12 + b) % 256));
    // Images 2 and 3 lie in different arrays; 0..2 in the same one.
    expect(pixels.image(2).buffer).not.toBe(pixels.image(3).buffer);
    expect(pixels.image(0).buffer).toBe(pixels.image(2).buffer);
    // A view: writing to it writes the image, and no neighbour.
    pixels.image(3).fill(7);
    expect(pixels.image(3).every((v) => v === 7)).toBe(true);
    expect(pixels.image(2)[11]).toBe(35);
    expect(pixels.image(4)[0]).toBe(48);
  });

  it('refuses an image outside the set and bytes that are not whole images', () => {
    const pixels = Pixels.alloc(4, 3, 6);
    for (const i of [-1, 4, 1.5, Number.NaN]) expect(() => pixels.image(i)).toThrow(RangeError);
    expect(() => Pixels.from(new Uint8Array(10), 3)).toThrow('10 bytes are not whole images of 3 bytes');
    expect(Pixels.alloc(0, 3).count).toBe(0);
    expect(() => pixels.select([0, 4])).toThrow('image 4 of a set of 4');
  });

  it('takes a subset of a chunked set, in the order asked, without copying it', () => {
    const set: ImageSet = { images: Pixels.from(pattern(9, 5), 5, 10), labels: Int32Array.from({ length: 9 }, (_, i) => i), count: 9, size: 1, sources: Array.from({ length: 9 }, (_, i) => `${i}.png`) };
    const picked = subset(set, [8, 0, 5, 5]);
    expect(Array.from(picked.labels)).toEqual([8, 0, 5, 5]);
    expect(picked.sources).toEqual(['8.png', '0.png', '5.png', '5.png']);
    expect([0, 1, 2, 3].map((k) => Array.from(picked.images.image(k)))).toEqual([8, 0, 5, 5].map((i) => Array.from(set.images.image(i))));
    // A subset of a subset reads the images it names, from the same bytes: nothing is copied.
    const again = subset(picked, [3, 0]);
    expect(again.sources).toEqual(['5.png', '8.png']);
    expect(again.images.image(1).buffer).toBe(set.images.image(8).buffer);
    set.images.image(5).fill(200);
    expect(Array.from(again.images.image(0))).toEqual([200, 200, 200, 200, 200]);
  });
});
