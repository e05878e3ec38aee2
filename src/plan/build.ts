/**
 * AST -> plan. Runs only on scripts the checks passed, so every name here is known to be valid;
 * its job is to resolve meaning (phases, trainability, defaults) and write all of it out.
 */
import { LineMap } from '../diagnostics/location.ts';
import type { Span } from '../diagnostics/diagnostic.ts';
import type { CheckContext } from '../checks/context.ts';
import { writtenPhases } from '../checks/phases.ts';
import { resolveTrainability } from '../checks/trainability.ts';
import { AUGMENT_OPS, DEFAULTS, PHASE_DEFAULTS } from '../checks/vocabulary.ts';
import type { NumberNode, Setting, Statement, Word } from '../syntax/ast.ts';
import { BLOCKS } from '../zoo/catalog.ts';
import type {
  Adapt, AugmentOp, Checkpoint, Clip, Data, DataFormat, EarlyStop, Freeze, Head, HeadLayer, Model, Optimizer, Origin, Phase, Plan, Schedule, Target, Weights,
} from './schema.ts';
import { PLAN_VERSION } from './version.ts';

/** The language's augment ops are the plan's, no more and no fewer (a compile error otherwise). */
type SameKeys<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
true satisfies SameKeys<keyof typeof AUGMENT_OPS, AugmentOp['op']>;

/** How `data` and `evaluate` paths are read, by their names: a `.csv` manifest, an MNIST-style IDX file, else a folder of class folders. */
export function dataFormat(path: string): DataFormat {
  return /\.csv$/i.test(path) ? 'csv' : /(idx\d-ubyte|\.idx\d?)(\.gz)?$/i.test(path) ? 'idx' : 'folder';
}

export function buildPlan(ctx: CheckContext, source: string): Plan {
  const lines = new LineMap(source);
  const origin = (span: Span): Origin => ({ start: span.start, end: span.end, ...lines.position(span.start) });
  const first = ctx.first.bind(ctx);
  const use = ctx.use!;

  const model = buildModel(ctx, origin);
  const dataStmt = first('data');
  const data: Data | null = dataStmt
    ? {
        format: dataFormat(dataStmt.path.text),
        path: dataStmt.path.text,
        split: dataStmt.val ? 0 : (dataStmt.split?.value ?? DEFAULTS.split),
        val: dataStmt.val?.text ?? null,
        balance: dataStmt.balance !== undefined,
        origin: origin(dataStmt.span),
      }
    : null;

  const headStmt = first('head');
  const head: Head = {
    pooling: 'avg',
    layers: (headStmt?.layers ?? []).map((l): HeadLayer =>
      l.kind === 'dense'
        ? { kind: 'dense', units: l.units.value, activation: (l.activation?.text ?? DEFAULTS.denseActivation) as 'relu', origin: origin(l.span) }
        : { kind: 'dropout', rate: l.rate.value, origin: origin(l.span) },
    ),
    origin: headStmt ? origin(headStmt.span) : null,
  };

  const freezeStmt = first('freeze');
  const freeze: Freeze = !freezeStmt
    ? { kind: 'all', until: null, origin: null }
    : freezeStmt.mode === 'until' && freezeStmt.target
      ? { kind: 'until', until: target(freezeStmt.target), origin: origin(freezeStmt.span) }
      : { kind: freezeStmt.mode === 'until' ? 'all' : freezeStmt.mode, until: null, origin: origin(freezeStmt.span) };

  const augment: AugmentOp[] = ctx.all('augment').flatMap((s) =>
    s.ops.map((op) => {
      const name = op.name.text as keyof typeof AUGMENT_OPS;
      const spec = AUGMENT_OPS[name];
      const value = op.arg ? ('value' in op.arg ? op.arg.value : op.arg.text) : spec.default;
      return { op: name, [spec.field]: value, origin: origin(op.span) } as AugmentOp;
    }),
  );

  const phases = buildPhases(ctx, origin);
  const adaptStmt = first('adapt');
  const earlyStmt = first('earlyStop');
  const checkpointStmt = first('checkpoint');
  const evaluateStmt = first('evaluate');
  const exportStmt = first('export');

  return {
    version: PLAN_VERSION,
    model,
    data,
    head,
    freeze,
    augment,
    labelSmoothing: first('labelSmoothing')?.value.value ?? 0,
    batchNorm: { frozen: 'inference', trainable: 'batch', recalibrate: 'epoch' },
    phases,
    adapt: adaptStmt ? buildAdapt(adaptStmt, origin) : null,
    earlyStop: earlyStmt
      ? {
          patience: earlyStmt.patience?.value ?? DEFAULTS.earlyStopPatience,
          monitor: (earlyStmt.monitor?.text ?? DEFAULTS.monitor) as EarlyStop['monitor'],
          restoreBest: true,
          origin: origin(earlyStmt.span),
        }
      : null,
    checkpoint: checkpointStmt ? buildCheckpoint(checkpointStmt, origin) : null,
    seed: first('seed')?.value.value ?? DEFAULTS.seed,
    evaluate: evaluateStmt ? { format: dataFormat(evaluateStmt.path.text), path: evaluateStmt.path.text, tta: evaluateStmt.tta !== undefined, origin: origin(evaluateStmt.span) } : null,
    export: exportStmt ? { path: exportStmt.path.text, origin: origin(exportStmt.span) } : null,
  };

  function buildModel(c: CheckContext, at: (s: Span) => Origin): Model {
    const cut = use.cut ? target(use.cut) : null;
    if (c.zoo) {
      const weights: Weights = weightsOf(use.weights) ?? (c.zoo.imagenet === 'unavailable' ? { kind: 'none' } : { kind: 'imagenet' });
      return { kind: 'zoo', name: c.zoo.name, weights, input: use.input?.value ?? c.zoo.input, cut, origin: at(use.span) };
    }
    return { kind: 'file', path: use.model.text, weights: weightsOf(use.weights) ?? { kind: 'own' }, input: use.input?.value ?? null, cut, origin: at(use.span) };
  }
}

function target(word: Word): Target {
  return word.quoted ? { kind: 'layer', layer: word.text } : { kind: 'block', block: word.text };
}

function weightsOf(word: Word | undefined): Weights | undefined {
  if (!word) return undefined;
  if (word.quoted) return { kind: 'file', path: word.text };
  return word.text === 'none' ? { kind: 'none' } : { kind: 'imagenet' };
}

interface PhaseSettings {
  epochs: number;
  lr: number;
  batch: number;
  optimizer: Optimizer;
  schedule: Schedule;
  clip: Clip | null;
  /** `lr auto`, until a phase writes its rate; `searchSteps` with it. */
  findLr: boolean;
  searchSteps: number;
  decay: number | null;
  /** Rates set for one unit (`lr block4 1e-5`), by block, `head` or layer name; they carry into later phases. */
  unitLr: Readonly<Record<string, number>>;
}

function optimizerOf(name: string, { momentum, weightDecay }: { momentum?: NumberNode; weightDecay?: NumberNode } = {}): Optimizer {
  const decay = weightDecay?.value ?? (name === 'adamw' ? DEFAULTS.adamwDecay : 0);
  if (name === 'sgd') return { kind: 'sgd', momentum: momentum?.value ?? DEFAULTS.sgdMomentum, weightDecay: decay };
  if (name === 'rmsprop') return { kind: 'rmsprop', rho: 0.9, momentum: momentum?.value ?? DEFAULTS.rmspropMomentum, epsilon: 1e-7, weightDecay: decay };
  return { kind: 'adam', beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: decay };
}

function scheduleOf(s: Extract<Setting, { kind: 'schedule' }>): Schedule {
  const warmup = s.warmup?.value ?? 0;
  if (s.name.text === 'cosine') return { kind: 'cosine', minLr: s.min?.value ?? DEFAULTS.cosineMin, warmup };
  if (s.name.text === 'step') return { kind: 'step', every: s.every?.value ?? DEFAULTS.stepEvery, gamma: s.gamma?.value ?? DEFAULTS.stepGamma, warmup };
  return { kind: 'constant', warmup };
}

function apply(settings: PhaseSettings, s: Setting): PhaseSettings {
  switch (s.kind) {
    case 'epochs':
      return { ...settings, epochs: s.value.value };
    case 'lr':
      return s.unit ? { ...settings, unitLr: { ...settings.unitLr, [s.unit.text]: s.value.value } } : { ...settings, lr: s.value.value, findLr: false };
    case 'lrAuto':
      return { ...settings, findLr: true, searchSteps: s.steps?.value ?? PHASE_DEFAULTS.searchSteps };
    case 'batch':
      return { ...settings, batch: s.value.value };
    case 'optimizer':
      return { ...settings, optimizer: optimizerOf(s.name.text, s) };
    case 'schedule':
      return { ...settings, schedule: scheduleOf(s) };
    case 'clip':
      return { ...settings, clip: s.mode && s.max ? { mode: s.mode.text as Clip['mode'], max: s.max.value } : null };
  }
}

/**
 * The phase's rate factors. With `decay`: head at 1, then each block from deep to shallow `decay` times
 * the one above it. A unit's own rate (`lr block4 1e-5`) wins: its factor is that rate over the phase's.
 */
function multipliers(trainable: readonly string[], layers: readonly string[], settings: PhaseSettings): Record<string, number> | null {
  const { decay, unitLr, lr } = settings;
  const own = Object.entries(unitLr);
  if (decay === null && own.length === 0) return null;
  const out: Record<string, number> = {};
  if (decay !== null) {
    out['head'] = 1;
    for (const unit of trainable) {
      const b = BLOCKS.indexOf(unit as (typeof BLOCKS)[number]);
      if (b >= 0) out[unit] = Number((decay ** (BLOCKS.length - b)).toPrecision(12));
    }
    for (const layer of layers) out[layer] = Math.min(...Object.values(out));
  }
  for (const [unit, rate] of own) out[unit] = Number((rate / lr).toPrecision(12));
  return out;
}

function buildPhases(ctx: CheckContext, origin: (s: Span) => Origin): Phase[] {
  const training = resolveTrainability(ctx).phases;
  let settings: PhaseSettings = {
    epochs: PHASE_DEFAULTS.epochs,
    lr: PHASE_DEFAULTS.lr,
    batch: PHASE_DEFAULTS.batch,
    optimizer: optimizerOf(PHASE_DEFAULTS.optimizer),
    schedule: { kind: 'constant', warmup: 0 },
    clip: null,
    findLr: false,
    searchSteps: PHASE_DEFAULTS.searchSteps,
    decay: null,
    unitLr: {},
  };
  return writtenPhases(ctx).map(({ name, statement, settings: written }, p) => {
    for (const s of written) settings = apply(settings, s);
    if (statement?.decay) settings = { ...settings, decay: statement.decay.value };
    const t = training[p]!;
    return {
      name,
      epochs: settings.epochs,
      lr: settings.lr,
      batch: settings.batch,
      optimizer: settings.optimizer,
      schedule: settings.schedule,
      clip: settings.clip,
      findLr: settings.findLr,
      searchSteps: settings.searchSteps,
      trainable: t.trainable,
      frozenThrough: t.frozenThrough,
      trainableLayers: t.trainableLayers,
      lrMultipliers: multipliers(t.trainable, t.trainableLayers, settings),
      origin: statement ? origin(statement.span) : null,
    };
  });
}

function buildAdapt(s: Extract<Statement, { kind: 'adapt' }>, origin: (s: Span) => Origin): Adapt {
  const target = s.target!.text;
  const at = origin(s.span);
  switch (s.method.text) {
    case 'adabn':
      return { method: 'adabn', target, at: (s.at?.text ?? DEFAULTS.adabnAt) as 'end' | 'phase', origin: at };
    case 'coral':
      return { method: 'coral', target, weight: s.weight?.value ?? DEFAULTS.adaptWeight, origin: at };
    case 'dann':
      return { method: 'dann', target, weight: s.weight?.value ?? DEFAULTS.adaptWeight, origin: at };
    default:
      return {
        method: 'pseudolabel',
        target,
        threshold: s.threshold?.value ?? DEFAULTS.pseudolabelThreshold,
        rounds: s.rounds?.value ?? DEFAULTS.pseudolabelRounds,
        origin: at,
      };
  }
}

function buildCheckpoint(s: Extract<Statement, { kind: 'checkpoint' }>, origin: (s: Span) => Origin): Checkpoint {
  if (s.every) return { kind: 'every', epochs: s.every.value, origin: origin(s.span) };
  return { kind: 'best', monitor: (s.monitor?.text ?? DEFAULTS.monitor) as 'val_loss', origin: origin(s.span) };
}
