/** The model zoo of the executor: base networks, their weights and input preprocessing. */
export { buildBase, type Base, type BuildBaseOptions } from './build-base.ts';
export { ZooError, type ZooErrorCode } from './errors.ts';
export { fetchKnownWeights, fetchWeights, type FetchWeightsOptions, type FetchWeightsResult } from './fetch-weights.ts';
export { defaultCacheDir, isDownloadable, KNOWN_WEIGHTS, knownWeightsPath, type DownloadableModel, type KnownWeights } from './known-weights.ts';
export { applyPreprocess, type Preprocess } from './preprocess.ts';
export { saveToDirectory } from './tfjs-files.ts';
export { baseLayerNames, buildNetwork } from './networks.ts';
