/** The target images of an `adapt` statement, decoded like the source; failures point at the statement. */
import type { Adapt } from '../../plan/schema.ts';
import { resolve } from 'node:path';
import { DataError, loadUnlabeled, requireExists, type DataErrorCode, type ImageSet } from '../data/index.ts';
import { ExecutorError } from '../errors.ts';
import type { FailureCode } from '../failure-codes.ts';

export interface TargetOptions {
  readonly baseDir: string;
  readonly imageSize: number;
  /** The channels the base takes; TL feeds RGB. */
  readonly channels: number;
  readonly onCorrupt?: 'skip' | 'stop';
  readonly warn?: (message: string) => void;
  readonly signal?: AbortSignal;
}

/** The target's own codes for the loaders' failures; any other is 'adapt-target-unreadable', with the loader's message. */
const CODES: Partial<Record<DataErrorCode, FailureCode>> = {
  'data-not-found': 'adapt-target-not-found',
  'not-a-directory': 'adapt-target-not-found',
  'no-classes': 'adapt-target-empty',
  'corrupt-image': 'adapt-target-unreadable',
};

export async function loadTarget(adapt: Adapt, options: TargetOptions): Promise<ImageSet> {
  if (options.channels !== 3) {
    throw new ExecutorError('adapt-target-shape', `the model takes ${options.channels}-channel input, but target images are decoded to RGB (3 channels); use a model that takes RGB images`, adapt.origin);
  }
  try {
    const set = await loadUnlabeled(adapt.target, {
      baseDir: options.baseDir, imageSize: options.imageSize, onCorrupt: options.onCorrupt ?? 'skip',
      ...(options.warn && { warn: options.warn }), ...(options.signal && { signal: options.signal }),
    });
    if (set.size !== options.imageSize || set.images.per !== set.size * set.size * 3) {
      throw new ExecutorError('adapt-target-shape', `target images decoded to ${set.size}x${set.size}, but the model takes ${options.imageSize}x${options.imageSize} RGB`, adapt.origin);
    }
    return { images: set.images, labels: set.labels ?? new Int32Array(set.count).fill(-1), count: set.count, size: set.size, sources: set.sources };
  } catch (err) {
    throw targetError(adapt, err);
  }
}

/** Fails as `loadTarget` would where the target is not there: cheap, so a run looks before it loads its base. */
export async function requireTarget(adapt: Adapt, baseDir: string): Promise<void> {
  await requireExists(resolve(baseDir, adapt.target), 'target folder').catch((err: unknown) => {
    throw targetError(adapt, err);
  });
}

function targetError(adapt: Adapt, err: unknown): ExecutorError {
  if (err instanceof ExecutorError) return err;
  const code = (err instanceof DataError && CODES[err.code]) || 'adapt-target-unreadable';
  return new ExecutorError(code, `adapt ${adapt.method}: ${(err as Error).message}`, adapt.origin, { cause: err });
}
