/**
 * The pretrained weights TL knows how to download, and where they live: Keras applications' "notop"
 * .h5 files, unchanged, in the weights cache ($TL_CACHE, else ~/.cache/tl/weights).
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ZooError } from './errors.ts';

export type DownloadableModel = 'resnet50' | 'vgg16';

export interface KnownWeights {
  readonly model: DownloadableModel;
  /** File name in the cache: Keras' own, so a file from ~/.keras/models can be copied over as is. */
  readonly file: string;
  readonly url: string;
  readonly bytes: number;
  /** The hash keras.applications checks (`file_hash`, an md5). */
  readonly md5: string;
  /** Not published by Keras; null until someone records it from a verified download. */
  readonly sha256: string | null;
}

const KERAS_APPLICATIONS = 'https://storage.googleapis.com/tensorflow/keras-applications';

export const KNOWN_WEIGHTS: Readonly<Record<DownloadableModel, KnownWeights>> = {
  resnet50: {
    model: 'resnet50',
    file: 'resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5',
    url: `${KERAS_APPLICATIONS}/resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5`,
    bytes: 94_765_736,
    md5: '4d473c1dd8becc155b73f8504c6f6626',
    sha256: null,
  },
  vgg16: {
    model: 'vgg16',
    file: 'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5',
    url: `${KERAS_APPLICATIONS}/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5`,
    bytes: 58_889_256,
    md5: '6d6bbae143d832006294945121d1f1fc',
    sha256: null,
  },
};

export function isDownloadable(name: string): name is DownloadableModel {
  return Object.hasOwn(KNOWN_WEIGHTS, name);
}

/** The weights cache: `$TL_CACHE` when set, else ~/.cache/tl/weights. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['TL_CACHE'];
  return fromEnv ? resolve(fromEnv) : join(homedir(), '.cache', 'tl', 'weights');
}

export function knownWeightsPath(name: DownloadableModel, cacheDir: string): string {
  return join(resolve(cacheDir), KNOWN_WEIGHTS[name].file);
}

export function weightsMissingError(name: DownloadableModel, path: string): ZooError {
  const known = KNOWN_WEIGHTS[name];
  const mb = (known.bytes / 1e6).toFixed(1);
  return new ZooError(
    'weights-missing',
    `${name} ImageNet weights are not in the weights cache (expected ${path}): run \`tl weights fetch ${name}\`, ` +
      `or download ${known.url} (${mb} MB) and save it as ${path}.`,
  );
}
