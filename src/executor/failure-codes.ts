/**
 * Every code a run can fail with (the `jobFailed` event's `code`, what `tl run` and `tl predict`
 * print), stable and documented here: docs/diagnostics.md is generated from this table. An
 * `ExecutorError` takes only these, and the zoo's and the loaders' errors a part of them, so a new
 * failure cannot go undocumented.
 */

export const FAILURE_CODES = [
  // Data
  { code: 'missing-data', meaning: 'The script has no `data` statement (the compiler only warns: a plan can be written without one).' },
  { code: 'data-not-found', meaning: 'A data, `val` or `evaluate` path, or an image a manifest names, does not exist.' },
  { code: 'not-a-directory', meaning: 'A data path is a file where a folder of class folders is expected.' },
  { code: 'no-classes', meaning: 'A data folder has no class sub-folders, or a csv manifest has no rows.' },
  { code: 'empty-class', meaning: 'A class has no readable images.' },
  { code: 'one-class', meaning: 'The training data has a single class.' },
  { code: 'class-missing-from-val', meaning: 'A training class has no images in the `val` data.' },
  { code: 'unknown-label', meaning: 'The `val` or `evaluate` data has a class the training data lacks.' },
  { code: 'corrupt-image', meaning: 'An image cannot be decoded and `--stop-on-corrupt` is on, or none of the images can be.' },
  { code: 'bad-manifest', meaning: 'A csv manifest cannot be read; the message names the line.' },
  { code: 'bad-idx', meaning: 'A `format idx` file is not IDX, or does not decompress.' },
  { code: 'data-load', meaning: 'Loading the data failed otherwise; the message says how.' },
  // Domain adaptation
  { code: 'adapt-target-not-found', meaning: "The `adapt` target folder does not exist, or is a file." },
  { code: 'adapt-target-empty', meaning: 'The `adapt` target folder holds no images.' },
  { code: 'adapt-target-unreadable', meaning: 'None of the target images can be read, or the target cannot be loaded otherwise.' },
  { code: 'adapt-target-shape', meaning: 'The target images do not fit the model (it does not take RGB).' },
  { code: 'adapt-no-batchnorm', meaning: '`adapt adabn` on a model with no BatchNorm layers.' },
  // The model
  { code: 'unknown-model', meaning: 'The zoo has no model by that name.' },
  { code: 'model-not-found', meaning: '`use "path"` names no file, or not a tfjs Layers model.' },
  { code: 'unknown-layer', meaning: "A `cut`, `freeze until`, `unfreeze` or `lr` names a layer the base does not have (a model file's layers are known only when it loads)." },
  { code: 'unknown-block', meaning: 'A block the model has no layers in.' },
  { code: 'bad-input', meaning: "The input size does not suit the base, or a user model's input is not square RGB images." },
  { code: 'weights-missing', meaning: 'The weights file is not there: `tl weights fetch` downloads the zoo\'s.' },
  { code: 'weights-mismatch', meaning: 'A weights file does not fit the network, or cannot be read.' },
  { code: 'download-failed', meaning: 'A weights download failed, or its checksum did not match (nothing is saved).' },
  { code: 'model-load', meaning: 'Building the base failed otherwise; the message says how.' },
  // Running
  { code: 'no-backend', meaning: 'No tfjs backend could start, or the one asked for is not installed.' },
  { code: 'bad-setting', meaning: 'An environment setting is out of range (`TL_THREADS`).' },
  { code: 'out-of-memory', meaning: 'The backend ran out of memory in a training step; lower `batch` or `input`.' },
  { code: 'cancelled', meaning: 'Cancelled (Ctrl-C, `cancelJob`); a checkpoint was saved to resume from where training had begun.' },
  { code: 'bad-plan', meaning: 'A plan given as JSON (`tl run plan.json`, the library\'s `runPlan`) does not fit the plan schema; the message names each field.' },
  { code: 'internal', meaning: 'A failure TL did not expect: a bug, please report it with the message.' },
  // What a run writes and reads back
  { code: 'export-failed', meaning: 'The `export` folder cannot be made or written.' },
  { code: 'checkpoint-failed', meaning: 'The run folder cannot take checkpoints.' },
  { code: 'no-checkpoint', meaning: '`--resume` (or `resumeJob`) with no checkpoint to resume from.' },
  { code: 'checkpoint-mismatch', meaning: 'The checkpoint does not fit the script: it was changed since, or the checkpoint is damaged.' },
  { code: 'bad-export', meaning: '`tl predict` on a folder that is not a whole TL export.' },
] as const satisfies readonly { code: string; meaning: string }[];

export type FailureCode = (typeof FAILURE_CODES)[number]['code'];

/** Some of the failure codes, for an error type that raises only those: one not in the table is a type error. */
export type FailureCodes<T extends FailureCode> = T;
