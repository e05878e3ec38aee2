/**
 * The decoded images of a set: `count` images of `per` bytes each, kept in chunks of at most
 * `chunkBytes`. One typed array holds at most 4 GiB, which as one array capped a set at about
 * 28,000 images of 224 px (16,000 of 299 px); chunks lift that to what memory holds.
 *
 * `select` makes a set of some of the images without copying them: a split into training and
 * validation, or the images left after skipping unreadable ones, reads the decoder's bytes.
 */
export class Pixels {
  /** 1 GiB: a set of up to 7,000 images of 224 px is one chunk. */
  static readonly CHUNK_BYTES = 2 ** 30;

  private constructor(
    readonly count: number,
    readonly per: number,
    private readonly chunks: readonly Uint8Array[],
    private readonly perChunk: number,
    /** Which image of the chunks each of this set's is; null: the i-th. */
    private readonly order: Int32Array | null,
  ) {}

  /** Room for `count` images of `per` bytes, zeroed. */
  static alloc(count: number, per: number, chunkBytes = Pixels.CHUNK_BYTES): Pixels {
    const perChunk = Math.max(1, Math.floor(chunkBytes / per));
    const chunks: Uint8Array[] = [];
    for (let left = count; left > 0; left -= perChunk) chunks.push(new Uint8Array(Math.min(left, perChunk) * per));
    return new Pixels(count, per, chunks, perChunk, null);
  }

  /** A copy of `bytes`, read as whole images of `per` bytes. */
  static from(bytes: Uint8Array, per: number, chunkBytes?: number): Pixels {
    if (per <= 0 || bytes.length % per !== 0) throw new RangeError(`${bytes.length} bytes are not whole images of ${per} bytes`);
    const pixels = Pixels.alloc(bytes.length / per, per, chunkBytes);
    for (let i = 0; i < pixels.count; i++) pixels.image(i).set(bytes.subarray(i * per, (i + 1) * per));
    return pixels;
  }

  /** The images at `indices`, in that order, sharing these bytes: writing to one writes the other. */
  select(indices: ArrayLike<number>): Pixels {
    const order = new Int32Array(indices.length);
    for (let k = 0; k < indices.length; k++) order[k] = this.slot(indices[k]!);
    return new Pixels(order.length, this.per, this.chunks, this.perChunk, order);
  }

  /** Image `i`'s bytes, as a view: writing to it writes the image. */
  image(i: number): Uint8Array {
    const slot = this.slot(i);
    const chunk = Math.floor(slot / this.perChunk);
    const at = (slot - chunk * this.perChunk) * this.per;
    return this.chunks[chunk]!.subarray(at, at + this.per);
  }

  /** Where image `i` lies in the chunks. */
  private slot(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`image ${i} of a set of ${this.count}`);
    return this.order === null ? i : this.order[i]!;
  }
}
