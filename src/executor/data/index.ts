export { loadDataset, type DataSource } from './load-dataset.ts';
export { loadUnlabeled, type UnlabeledOptions, type UnlabeledSet } from './load-unlabeled.ts';
export { DataError, type DataErrorCode } from './data-error.ts';
export { stratifiedSplit, type Split } from './split.ts';
export { subset } from './image-set.ts';
export { Pixels } from './pixels.ts';
export { IMAGE_EXTENSIONS, requireExists } from './list-images.ts';
export type { Dataset, DecodeOptions, Fit, ImageSet, LoadOptions } from './types.ts';
