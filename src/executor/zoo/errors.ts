/**
 * Typed failures of the model zoo. The executor turns them into run events; `code` is stable and
 * documented, `message` is one sentence saying what was expected, what was found and the fix.
 */
import type { FailureCodes } from '../failure-codes.ts';

export type ZooErrorCode = FailureCodes<
  /** `weights imagenet` (or a weights path) names a file that is not there. */
  | 'weights-missing'
  /** A weights file exists but does not fit the network (shapes, missing layers, unreadable format). */
  | 'weights-mismatch'
  /** `use "path"` names a model file that is not there or is not a tfjs Layers model.json. */
  | 'model-not-found'
  /** The zoo has no model by that name. */
  | 'unknown-model'
  /** A cut or freeze names a layer the base does not have. */
  | 'unknown-layer'
  /** A block name outside block1..block5, or a block the model has no layers in. */
  | 'unknown-block'
  /** The input size is below the architecture's minimum, or a user model's input size is unknown. */
  | 'bad-input'
  /** A download failed or its checksum did not match. */
  | 'download-failed'
>;

export class ZooError extends Error {
  override readonly name = 'ZooError';
  readonly code: ZooErrorCode;

  constructor(code: ZooErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
