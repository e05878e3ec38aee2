import type { Pixels } from './pixels.ts';

/** Decoded images of one split, packed for fast batching. */
export type ImageSet = {
  /** `count` images of size × size × 3 bytes: RGB, row-major (HWC). */
  images: Pixels;
  /** Class index of each image, into `Dataset.classes`. */
  labels: Int32Array;
  count: number;
  /** Side of every (square) image in pixels. */
  size: number;
  /** Where each image came from: a file path, or `file.idx#123` for the 123rd image of an IDX file. */
  sources: string[];
};

export type Dataset = {
  /** Class names; label i is `classes[i]`. Sorted for folder and csv data. */
  classes: string[];
  train: ImageSet;
  /** Empty (count 0) when there is no `val` and the split fraction is 0. */
  val: ImageSet;
};

/**
 * How images become square tensors: `fill` stretches the whole image to size × size (Keras'
 * `image_dataset_from_directory` default, nothing cut off); `cover` scales the short side to
 * `size` and centre-crops the long one (no distortion, but edges are lost).
 */
export type Fit = 'fill' | 'cover';

export type DecodeOptions = {
  imageSize: number;
  /** What to do with an image that cannot be read or decoded: warn and skip it (default), or throw. */
  onCorrupt?: 'skip' | 'stop';
  /** Receives warnings (skipped images, tiny classes, ignored files). Default: `console.warn`. */
  warn?: (message: string) => void;
  /** Default `fill`. */
  fit?: Fit;
  /** Images decoded at once (sharp runs each on libuv's thread pool). Default 8. */
  concurrency?: number;
  /** Checked between images; an aborted load rejects with the signal's reason. */
  signal?: AbortSignal;
};

export type LoadOptions = DecodeOptions & {
  /** Relative data paths are resolved against this folder (the .tl file's folder). */
  baseDir: string;
  /** Seeds the validation split. */
  seed: number;
  /** Keep only the first N images of each class (in file order; training and validation data alike), e.g. for a quick trial run. */
  limitPerClass?: number;
};
