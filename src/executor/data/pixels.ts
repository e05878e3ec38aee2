/**
 * The decoded images of a set: `count` images of `per` bytes each, kept in chunks of at most
 * `chunkBytes`. One typed array holds at most 4 GiB, which as one array capped a set at about
 * 28,000 images of 224 px (16,000 of 299 px); chunks lift that to what memory holds.
 */
export class Pixels {
  /** 1 GiB: a set of up to 7,000 images of 224 px is one chunk. */
  static readonly CHUNK_BYTES = 2 ** 30;

  private readonly chunks: Uint8Array[] = [];
  private readonly perChunk: number;

  constructor(readonly count: number, readonly per: number, chunkBytes = Pixels.CHUNK_BYTES) {
    this.perChunk = Math.max(1, Math.floor(chunkBytes / per));
    for (let left = count; left > 0; left -= this.perChunk) this.chunks.push(new Uint8Array(Math.min(left, this.perChunk) * per));
  }

  /** A copy of `bytes`, read as whole images of `per` bytes. */
  static from(bytes: Uint8Array, per: number, chunkBytes?: number): Pixels {
    if (per <= 0 || bytes.length % per !== 0) throw new RangeError(`${bytes.length} bytes are not whole images of ${per} bytes`);
    const pixels = new Pixels(bytes.length / per, per, chunkBytes);
    for (let i = 0; i < pixels.count; i++) pixels.image(i).set(bytes.subarray(i * per, (i + 1) * per));
    return pixels;
  }

  /** Image `i`'s bytes, as a view: writing to it writes the image. */
  image(i: number): Uint8Array {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`image ${i} of a set of ${this.count}`);
    const chunk = Math.floor(i / this.perChunk);
    const at = (i - chunk * this.perChunk) * this.per;
    return this.chunks[chunk]!.subarray(at, at + this.per);
  }
}
