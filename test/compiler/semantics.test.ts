import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import { describeClip, describeOptimizer, describeSchedule } from '../../src/plan/describe.ts';
import type { Plan } from '../../src/plan/schema.ts';

function plan(source: string): Plan {
  const r = compile(source);
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  if (!r.plan) throw new Error(`expected a plan, got ${errors.map((e) => `${e.code}: ${e.message}`).join('; ')}`);
  return r.plan;
}

function codes(source: string): string[] {
  return compile(source).diagnostics.map((d) => d.code);
}

/** Drops every `origin`, so plans that differ only in layout compare equal. */
function withoutOrigins(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutOrigins);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).filter(([k]) => k !== 'origin').map(([k, v]) => [k, withoutOrigins(v)]));
  }
  return value;
}

const USER_EXAMPLE = 'use resnet50; freeze until block4; augment flip, rotate 15; phase lr 1e-4 unfreeze block5';

describe("the user's example", () => {
  it('plans two phases: head only, then block5 + head at 1e-4', () => {
    const p = plan(USER_EXAMPLE);
    expect(p.phases.map((ph) => ({ trainable: ph.trainable, lr: ph.lr }))).toEqual([
      { trainable: ['head'], lr: 1e-3 },
      { trainable: ['block5', 'head'], lr: 1e-4 },
    ]);
    expect(p.augment.map(({ origin: _, ...op }) => op)).toEqual([{ op: 'flip', mode: 'horizontal' }, { op: 'rotate', degrees: 15 }]);
  });

  it('gives the same plan one statement a line, except spans', () => {
    const multi = USER_EXAMPLE.split('; ').join('\n');
    expect(withoutOrigins(plan(multi))).toEqual(withoutOrigins(plan(USER_EXAMPLE)));
    expect(plan(multi)).not.toEqual(plan(USER_EXAMPLE));
  });

  it('writes every default into the plan', () => {
    const p = plan('use mobilenetv2');
    expect(p.phases).toHaveLength(1);
    const [first] = p.phases;
    expect(first).toMatchObject({ name: 'warmup', epochs: 5, lr: 1e-3, batch: 32, optimizer: { kind: 'adam' }, schedule: { kind: 'constant', warmup: 0 } });
    expect(p.seed).toBe(42);
    expect(p.batchNorm).toEqual({ frozen: 'inference', trainable: 'batch', recalibrate: 'epoch' });
    expect(p.freeze.kind).toBe('all');
    expect(p.model).toMatchObject({ kind: 'zoo', name: 'mobilenetv2', weights: { kind: 'imagenet' }, input: 224 });
  });
});

describe('trainability', () => {
  it('trains what freeze does not cover from the start', () => {
    expect(plan('use resnet50; freeze until block3').phases[0]!.trainable).toEqual(['block4', 'block5', 'head']);
    expect(plan('use resnet50; freeze none').phases[0]!.trainable).toEqual(['block1', 'block2', 'block3', 'block4', 'block5', 'head']);
  });

  it('holds a block back until the phase that unfreezes it, even when freeze does not cover it', () => {
    const p = plan('use resnet50; freeze none; phase unfreeze block1');
    expect(p.phases[0]!.trainable).toEqual(['block2', 'block3', 'block4', 'block5', 'head']);
    expect(p.phases[1]!.trainable).toEqual(['block1', 'block2', 'block3', 'block4', 'block5', 'head']);
  });

  it('unfreezes gradually, with discriminative rates from decay', () => {
    const p = plan('use resnet50\nphase unfreeze block5 decay 0.5\nphase unfreeze block4\nphase unfreeze all');
    expect(p.phases.map((ph) => ph.trainable.length)).toEqual([1, 2, 3, 6]);
    expect(p.phases[2]!.lrMultipliers).toEqual({ head: 1, block5: 0.5, block4: 0.25 });
    expect(p.phases[0]!.lrMultipliers).toBeNull();
  });

  it('gives a block, a layer or the head its own rate, as a factor of the phase rate that later phases keep', () => {
    const p = plan('use resnet50; lr 1e-3; lr head 3e-3\nphase unfreeze block5, block4 lr 1e-4 lr block4 1e-5 lr "conv5_block3_out" 5e-5\nphase unfreeze all lr 2e-5');
    expect(p.phases.map((ph) => ph.lr)).toEqual([1e-3, 1e-4, 2e-5]);
    expect(p.phases[0]!.lrMultipliers).toEqual({ head: 3 });
    expect(p.phases[1]!.lrMultipliers).toEqual({ head: 30, block4: 0.1, conv5_block3_out: 0.5 });
    // A rate is a setting: it holds, as a rate, until a phase sets it again.
    expect(p.phases[2]!.lrMultipliers).toEqual({ head: 150, block4: 0.5, conv5_block3_out: 2.5 });
  });

  it('lets a unit rate win over decay for that unit only', () => {
    const p = plan('use resnet50\nphase unfreeze block5, block4 decay 0.5 lr block4 1e-5');
    expect(p.phases[1]!.lrMultipliers).toEqual({ head: 1, block5: 0.5, block4: 0.01 });
  });

  it('names a unit rate set twice in one phase, and once more at the top level', () => {
    expect(codes('use resnet50; data "d"; phase unfreeze block5 lr block5 1e-4 lr block5 1e-5')).toContain('option-repeated');
    expect(codes('use resnet50; data "d"; lr block5 1e-4; lr block5 1e-5; freeze none')).toContain('duplicate-statement');
    expect(codes('use resnet50; data "d"; lr 1e-3; lr block5 1e-4; lr block4 1e-5; freeze none')).toEqual([]);
  });

  it('checks the unit a rate names like any block or layer reference', () => {
    expect(codes('use resnet50; data "d"; lr block9 1e-5')).toContain('unknown-block');
    expect(codes('use resnet50; data "d"; lr "conv9_block1_out" 1e-5')).toContain('unknown-layer');
    expect(codes('use resnet50 cut block4; freeze none; lr block5 1e-5')).toContain('block-after-cut');
    expect(codes('use resnet50; data "d"; lr block5 0')).toContain('lr-not-positive');
  });

  it('warns of a unit rate no phase it applies to uses, and not of one a later phase uses', () => {
    expect(codes('use resnet50; data "d"; lr block3 1e-5; phase unfreeze block5')).toEqual(['unit-rate-unused']);
    expect(codes('use resnet50; data "d"; lr block3 1e-5; phase unfreeze block3')).toEqual([]);
    // Set again before block3 trains: the first rate never applies.
    expect(codes('use resnet50; data "d"; lr block3 1e-5; phase unfreeze block5 lr block3 2e-5; phase unfreeze block3')).toEqual(['unit-rate-unused']);
    // A layer trains when its block does, or when a phase names it.
    expect(codes('use resnet50; data "d"; lr "conv3_block1_out" 1e-5; phase unfreeze "conv3_block1_out"')).toEqual([]);
    expect(codes('use resnet50; data "d"; lr "conv3_block1_out" 1e-5')).toEqual(['unit-rate-unused']);
    expect(codes('use resnet50; data "d"; lr head 1e-2')).toEqual([]);
  });

  it('keeps a layer-level freeze boundary until its block is unfrozen', () => {
    const p = plan('use resnet50; freeze until "conv4_block3_out"; phase unfreeze block4');
    expect(p.phases[0]).toMatchObject({ trainable: ['block5', 'head'], frozenThrough: 'conv4_block3_out' });
    expect(p.phases[1]).toMatchObject({ trainable: ['block4', 'block5', 'head'], frozenThrough: null });
    const q = plan('use resnet50; freeze until "conv4_block3_out"');
    expect(q.phases[0]).toMatchObject({ trainable: ['block4', 'block5', 'head'], frozenThrough: 'conv4_block3_out' });
  });

  it('treats a block-ending layer like its block', () => {
    const p = plan('use resnet50; freeze until "conv4_block6_out"');
    expect(p.phases[0]).toMatchObject({ trainable: ['block5', 'head'], frozenThrough: null });
  });

  it('limits blocks to what cut keeps', () => {
    const p = plan('use mobilenetv2 cut block4; freeze none');
    expect(p.phases[0]!.trainable).toEqual(['block1', 'block2', 'block3', 'block4', 'head']);
    expect(codes('use mobilenetv2 cut block4; phase unfreeze block5')).toContain('block-after-cut');
  });

  it('warns that coral and dann cannot align the features of a base no phase trains, and only then', () => {
    const warned = (src: string) => codes(src).includes('adapt-frozen-base');
    expect(warned('use resnet50; adapt coral target "t"')).toBe(true);
    expect(warned('use mobilenetv2 cut block4; adapt dann target "t"; phase lr 1e-4')).toBe(true);
    // Some of the base trains: from the start, after a layer-level boundary, from a phase on, or by a named layer.
    expect(warned('use resnet50; freeze until block4; adapt coral target "t"')).toBe(false);
    expect(warned('use resnet50; freeze until "conv5_block1_out"; adapt coral target "t"')).toBe(false);
    expect(warned('use resnet50; adapt dann target "t"; phase unfreeze block5')).toBe(false);
    expect(warned('use resnet50; adapt dann target "t"; phase unfreeze "conv5_block3_out"')).toBe(false);
    // adabn and self-training work on a frozen base; a custom model's blocks are not known to the checks.
    expect(warned('use resnet50; adapt adabn target "t"')).toBe(false);
    expect(warned('use resnet50; adapt pseudolabel target "t"')).toBe(false);
    expect(warned('use "m/model.json"; adapt coral target "t"')).toBe(false);
  });

  it('inherits settings from the phase before', () => {
    const p = plan('use tiny\nepochs 2\nbatch 8\noptimizer sgd momentum 0.9\nphase a lr 1e-4\nphase b epochs 1');
    expect(p.phases.map((ph) => [ph.epochs, ph.batch, ph.lr, ph.optimizer.kind])).toEqual([
      [2, 8, 1e-3, 'sgd'],
      [2, 8, 1e-4, 'sgd'],
      [1, 8, 1e-4, 'sgd'],
    ]);
  });

  it('smooths the labels where the script says, by 0 otherwise', () => {
    expect(plan('use tiny').labelSmoothing).toBe(0);
    expect(plan('use tiny\nlabel smoothing 0.1').labelSmoothing).toBe(0.1);
  });

  it('scores the test set with mirror images where the evaluate statement says tta', () => {
    expect(plan('use tiny; evaluate "t"').evaluate).toMatchObject({ path: 't', tta: false });
    expect(plan('use tiny; evaluate "t" tta').evaluate).toMatchObject({ path: 't', tta: true });
  });

  it('balances the classes where the data statement says', () => {
    expect(plan('use tiny; data "x"').data?.balance).toBe(false);
    expect(plan('use tiny; data "x" balance split 0.1').data).toMatchObject({ balance: true, split: 0.1 });
  });

  it('gives the optimizer a weight decay: adamw 0.01 unless given, any optimizer with `weight decay`, none otherwise', () => {
    const p = plan('use tiny\noptimizer adamw\nphase a optimizer adamw weight decay 0.05\nphase b optimizer sgd momentum 0.9 weight decay 1e-4\nphase c epochs 1\nphase d optimizer adam');
    expect(p.phases.map((ph) => [ph.optimizer.kind, ph.optimizer.weightDecay])).toEqual([
      ['adam', 0.01],
      ['adam', 0.05],
      ['sgd', 1e-4],
      ['sgd', 1e-4],
      ['adam', 0],
    ]);
  });

  it('searches the rate of each phase from lr auto on, until a phase writes its rate; lr is then the rate written before', () => {
    const p = plan('use tiny\nfreeze none\nlr auto\nphase a lr 1e-4\nphase b lr auto decay 0.5 unfreeze all\nphase c epochs 2');
    expect(p.phases.map((ph) => [ph.name, ph.findLr, ph.lr])).toEqual([['warmup', true, 1e-3], ['a', false, 1e-4], ['b', true, 1e-4], ['c', true, 1e-4]]);
    // A search moves the phase's rate: decay's factors are relative to it and hold.
    expect(p.phases[2]!.lrMultipliers).toMatchObject({ head: 1, block5: 0.5 });
    expect(plan('use tiny').phases[0]!.findLr).toBe(false);
    // `steps N` sets the search's length; it carries with the search, and a later bare `lr auto` is 100 again.
    const stepped = plan('use tiny\nfreeze none\nlr auto steps 30\nphase a unfreeze all\nphase b lr auto');
    expect(stepped.phases.map((ph) => [ph.findLr, ph.searchSteps])).toEqual([[true, 30], [true, 30], [true, 100]]);
    expect(codes('use tiny; data "x"; freeze none; lr auto steps 1')).toEqual(['bad-number']);
    expect(codes('use tiny; data "x"; freeze none; lr auto steps 2.5')).toEqual(['bad-number']);
    // A unit's own rate is absolute: where it would hold in a searched phase, an error says so (the warmup phase here).
    expect(codes('use tiny; data "x"; freeze none; lr head 1e-2; phase b lr auto')).toEqual(['auto-unit-rate']);
    // A searched rate is not known before the run: no floor to compare cosine's min with.
    expect(codes('use tiny; data "x"; freeze none; lr auto; schedule cosine min 0.5')).toEqual([]);
  });

  it('clips gradients from the phase that says so on, until a phase says clip none', () => {
    const p = plan('use tiny\nclip norm 1\nphase a unfreeze all\nphase b clip value 0.5\nphase c clip none\nphase d lr 1e-4');
    expect(p.phases.map((ph) => ph.clip)).toEqual([{ mode: 'norm', max: 1 }, { mode: 'norm', max: 1 }, { mode: 'value', max: 0.5 }, null, null]);
    expect(plan('use tiny').phases[0]!.clip).toBeNull();
    // As a run's phase line says it, which compiles back to the same.
    expect(p.phases.map((ph) => describeClip(ph.clip))).toEqual(['clip norm 1', 'clip norm 1', 'clip value 0.5', '', '']);
    for (const ph of p.phases.slice(0, 3)) expect(plan(`use tiny\n${describeClip(ph.clip)}`).phases[0]!.clip).toEqual(ph.clip);
  });

  it("describes each phase's optimizer and schedule as a script writes them, which compile back to the same", () => {
    const p = plan('use tiny\noptimizer sgd momentum 0.9 weight decay 5e-4\nschedule cosine min 1e-6 warmup 1\nphase a optimizer adamw schedule step every 2 gamma 0.5\nphase b optimizer rmsprop schedule constant warmup 2\nphase c optimizer adam schedule constant');
    const described = p.phases.map((ph) => [describeOptimizer(ph.optimizer), describeSchedule(ph.schedule)]);
    expect(described).toEqual([
      ['sgd momentum 0.9 weight decay 0.0005', 'cosine min 0.000001 warmup 1'],
      ['adam weight decay 0.01', 'step every 2 gamma 0.5'],
      ['rmsprop', 'constant warmup 2'],
      ['adam', ''],
    ]);
    described.forEach(([optimizer, schedule], i) => {
      const again = plan(`use tiny\noptimizer ${optimizer}${schedule ? `\nschedule ${schedule}` : ''}`).phases[0]!;
      expect([again.optimizer, again.schedule]).toEqual([p.phases[i]!.optimizer, p.phases[i]!.schedule]);
    });
  });
});

describe('the rest of the language', () => {
  it('compiles every statement', () => {
    const p = plan(`
use "models/net/model.json" weights "w.h5" input 128 cut "conv_9"
data "train.csv" split 0.3
head dense 64 tanh dropout 0.25 dense 32
freeze until "conv_3"
augment flip vertical, rotate 10, zoom 0.1, translate 0.05, brightness 0.1, contrast 0.1, crop 0.1, noise 0.01, mixup 0.2, cutmix 1
epochs 3; lr 1e-3; batch 16; optimizer rmsprop momentum 0.5; schedule step every 2 gamma 0.5 warmup 1
phase ft unfreeze all lr 1e-5 schedule cosine min 1e-7
adapt pseudolabel threshold 0.95 rounds 2 target "unlabelled"
early stop patience 4 monitor val_accuracy
checkpoint every 2
seed 9
evaluate "test"
export "out"
`);
    expect(p.model).toMatchObject({ kind: 'file', path: 'models/net/model.json', weights: { kind: 'file', path: 'w.h5' }, input: 128, cut: { kind: 'layer', layer: 'conv_9' } });
    expect(p.data).toMatchObject({ format: 'csv', split: 0.3, val: null });
    expect(p.head.layers.map((l) => l.kind)).toEqual(['dense', 'dropout', 'dense']);
    expect(p.augment).toHaveLength(10);
    expect(p.phases[0]!.schedule).toEqual({ kind: 'step', every: 2, gamma: 0.5, warmup: 1 });
    expect(p.phases[1]!.schedule).toEqual({ kind: 'cosine', minLr: 1e-7, warmup: 0 });
    expect(p.adapt).toMatchObject({ method: 'pseudolabel', threshold: 0.95, rounds: 2, target: 'unlabelled' });
    expect(p.earlyStop).toMatchObject({ patience: 4, monitor: 'val_accuracy' });
    expect(p.checkpoint).toMatchObject({ kind: 'every', epochs: 2 });
    expect([p.seed, p.evaluate?.path, p.export?.path]).toEqual([9, 'test', 'out']);
  });

  it('infers the data format from the path', () => {
    expect(plan('use tiny; data "x/train-images-idx3-ubyte.gz"').data?.format).toBe('idx');
    expect(plan('use tiny; data "x/images"').data?.format).toBe('folder');
    expect(plan('use tiny; data "x" val "y"').data).toMatchObject({ split: 0, val: 'y' });
  });

  it('lets a list go on after a comma at a line end, and # start a comment', () => {
    const p = plan('use tiny # the model\naugment flip,\n  rotate 5 # more\n');
    expect(p.augment.map((a) => a.op)).toEqual(['flip', 'rotate']);
  });

  it('an empty script reports a missing use', () => {
    expect(codes('')).toEqual(['missing-use']);
    expect(codes('# only a comment\n')).toEqual(['missing-use']);
  });

  it('a statement with a syntax error is not reported again as missing', () => {
    expect(codes('use resnet50 freeze until block4')).toEqual(['unexpected-token']);
    expect(codes('USE resnet50; data "x"')).toEqual(['unknown-statement']);
    expect(codes('use tiny; freeze none; data "x" bogus 3')).toEqual(['unexpected-token']);
    expect(codes('use tiny; freeze none; dat "x"')).toEqual(['unknown-statement']);
    // A word near no statement hides nothing: the script still names no model.
    expect(codes('frobnicate')).toEqual(['missing-use', 'unknown-statement']);
    expect(codes('dta "x"')).toEqual(['missing-use', 'unknown-statement']);
  });

  it("a zoo model's smallest input is the one rule its input breaks", () => {
    const found = compile('use resnet50 input 7; data "x"').diagnostics;
    expect(found.map((d) => d.message)).toEqual(["resnet50's input size must be at least 32 and at most 2048, found 7"]);
    expect(compile('use "m.json" input 7; data "x"').diagnostics.map((d) => d.message)).toEqual(['input size must be at least 8 and at most 2048, found 7']);
  });
});
