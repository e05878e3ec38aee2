import { describe, expect, it } from 'vitest';
import { compile } from '../../src/compile.ts';
import { formatDiagnostic } from '../../src/diagnostics/print.ts';
import { DIAGNOSTIC_CODES } from '../../src/diagnostics/codes.ts';
import { didYouMean } from '../../src/diagnostics/suggest.ts';

/** One row per diagnostic code: a script that raises it, and the corrected script that does not. */
const CASES: [code: string, bad: string, good: string][] = [
  ['stray-character', 'use tiny @', 'use tiny'],
  ['unterminated-string', 'use tiny; data "x', 'use tiny; data "x"'],
  ['unexpected-token', 'use tiny wieghts none', 'use tiny weights none'],
  ['missing-argument', 'use tiny; epochs', 'use tiny; epochs 3'],
  ['unknown-statement', 'use tiny; frezee all', 'use tiny; freeze all'],
  ['option-repeated', 'use tiny input 32 input 64', 'use tiny input 64'],
  ['missing-use', 'epochs 3', 'use tiny; epochs 3'],
  ['unknown-model', 'use resnet5O', 'use resnet50'],
  ['bad-model-path', 'use "models/net.bin"', 'use "models/net/model.json"'],
  ['unknown-weights', 'use resnet50 weights imagenet21k', 'use resnet50 weights imagenet'],
  ['weights-unavailable', 'use tiny weights imagenet', 'use tiny weights none'],
  ['duplicate-statement', 'use tiny; seed 1; seed 2', 'use tiny; seed 2'],
  ['bad-number', 'use tiny; epochs 2.5', 'use tiny; epochs 2'],
  ['lr-not-positive', 'use tiny; lr 0', 'use tiny; lr 1e-3'],
  ['lr-absurd', 'use tiny; lr 5', 'use tiny; lr 0.01'],
  ['lr-high', 'use tiny; lr 0.5', 'use tiny; lr 0.01'],
  ['unknown-optimizer', 'use tiny; optimizer adan', 'use tiny; optimizer adam'],
  ['unknown-schedule', 'use tiny; schedule cosin', 'use tiny; schedule cosine'],
  ['unknown-clip', 'use tiny; clip l2 1', 'use tiny; clip norm 1'],
  ['auto-unit-rate', 'use tiny; lr block5 1e-5; phase unfreeze block5 lr auto', 'use tiny; phase unfreeze block5 lr auto decay 0.5'],
  ['option-not-applicable', 'use tiny; schedule constant min 0.1', 'use tiny; schedule cosine min 0.1'],
  ['unknown-activation', 'use tiny; head dense 8 rellu', 'use tiny; head dense 8 relu'],
  ['unknown-monitor', 'use tiny; early stop monitor accuracy', 'use tiny; early stop monitor val_accuracy'],
  ['unknown-checkpoint', 'use tiny; checkpoint last', 'use tiny; checkpoint best'],
  ['unknown-block', 'use tiny; freeze until block9', 'use tiny; freeze until block4'],
  ['unknown-layer', 'use resnet50; freeze until "conv4_block9_out"', 'use resnet50; freeze until "conv4_block6_out"'],
  ['block-after-cut', 'use resnet50 cut block3; freeze until block4', 'use resnet50 cut block3; freeze until block2'],
  ['unknown-augment', 'use tiny; augment flipp', 'use tiny; augment flip'],
  ['bad-augment-arg', 'use tiny; augment rotate 400', 'use tiny; augment rotate 40'],
  ['duplicate-augment', 'use tiny; augment flip, flip', 'use tiny; augment flip'],
  ['unknown-adapt-method', 'use tiny; adapt mmd target "t"', 'use tiny; adapt coral target "t"'],
  ['adapt-missing-target', 'use tiny; adapt coral', 'use tiny; adapt coral target "t"'],
  ['adapt-no-batchnorm', 'use vgg16; adapt adabn target "t"', 'use resnet50; adapt adabn target "t"'],
  ['adapt-frozen-base', 'use mobilenetv2; adapt dann target "t"', 'use mobilenetv2; adapt dann target "t"; phase unfreeze block5 lr 1e-4'],
  ['bad-option', 'use tiny; adapt adabn at start target "t"', 'use tiny; adapt adabn at phase target "t"'],
  ['bad-path', 'use tiny; data ""', 'use tiny; data "d"'],
  ['missing-data', 'use tiny', 'use tiny; data "d"'],
  ['frozen-random-base', 'use tiny; freeze until block3', 'use tiny; freeze none'],
  ['split-ignored', 'use tiny; data "d" split 0.2 val "v"', 'use tiny; data "d" val "v"'],
  ['schedule-floor-above-lr', 'use tiny; lr 1e-3; schedule cosine min 1e-2', 'use tiny; lr 1e-3; schedule cosine min 1e-5'],
  ['schedule-outlasts-phase', 'use tiny; epochs 3; schedule cosine warmup 3', 'use tiny; epochs 3; schedule cosine warmup 1'],
  ['evaluate-not-held-out', 'use tiny; data "imgs/train"; evaluate "./imgs/train/"', 'use tiny; data "imgs/train"; evaluate "imgs/test"'],
  ['checkpoint-never', 'use tiny; epochs 4; phase tune epochs 3; checkpoint every 5', 'use tiny; epochs 5; phase tune epochs 3; checkpoint every 5'],
  ['setting-after-phase', 'use tiny; phase tune unfreeze block5\n  lr 1e-4', 'use tiny; phase tune unfreeze block5 lr 1e-4'],
  ['unit-rate-unused', 'use tiny; lr block3 1e-5; phase unfreeze block5', 'use tiny; lr block5 1e-5; phase unfreeze block5'],
  ['already-trainable', 'use tiny; phase unfreeze block5; phase unfreeze block5 lr 1e-5', 'use tiny; phase unfreeze block5; phase unfreeze block4 lr 1e-5'],
  ['empty-phase', 'use tiny; phase', 'use tiny; phase lr 1e-4'],
  ['duplicate-phase-name', 'use tiny; phase a lr 1e-4; phase a lr 1e-5', 'use tiny; phase a lr 1e-4; phase b lr 1e-5'],
  ['rate-decay-steep', 'use tiny; phase unfreeze block5 decay 0.01', 'use tiny; phase unfreeze block5 decay 0.5 optimizer adamw weight decay 0.01'],
  ['unfreeze-below-frozen-layer', 'use resnet50; freeze until "conv4_block2_out"; phase unfreeze block3', 'use resnet50; freeze until "conv4_block2_out"; phase unfreeze block3, block4'],
];

describe('every diagnostic code has a failing and a passing case', () => {
  for (const [code, bad, good] of CASES) {
    it(code, () => {
      expect(compile(bad).diagnostics.map((d) => d.code)).toContain(code);
      expect(compile(good).diagnostics.map((d) => d.code)).not.toContain(code);
    });
  }

  it('covers every documented code (too-many-errors aside, tested in fuzz)', () => {
    const tested = new Set(CASES.map(([c]) => c));
    expect(DIAGNOSTIC_CODES.map((c) => c.code).filter((c) => !tested.has(c) && c !== 'too-many-errors')).toEqual([]);
  });
});

describe('messages', () => {
  it('suggest the nearest zoo name and point at it', () => {
    const source = 'use resnet5O';
    const [d] = compile(source).diagnostics.filter((x) => x.severity === 'error');
    expect(d!.message).toBe("unknown model 'resnet5O'; did you mean 'resnet50'?");
    expect(formatDiagnostic(d!, { file: 'a.tl', source })).toBe(
      "a.tl:1:5: error unknown-model: unknown model 'resnet5O'; did you mean 'resnet50'?\n1 | use resnet5O\n        ^^^^^^^^",
    );
  });

  it('show a long line around the column, with the caret under the token', () => {
    const source = `use tiny; ${'epochs 3; '.repeat(40)}lr 0`;
    const d = compile(source).diagnostics.find((x) => x.code === 'lr-not-positive')!;
    const [, line, caret] = formatDiagnostic(d, { file: 'a.tl', source }).split('\n');
    expect(line!.startsWith('1 | ...')).toBe(true);
    expect(line!.endsWith('lr 0')).toBe(true);
    expect(line!.length).toBeLessThan(220);
    // The caret's column in the printed line holds the token the diagnostic is about.
    expect(line!.slice(caret!.indexOf('^'), caret!.lastIndexOf('^') + 1)).toBe('0');
  });

  it('never hand a terminal the control characters of a script', () => {
    // An escape sequence in a comment (here: set the window title) and a right-to-left override.
    const source = 'use tiny # \x1b]0;owned\x07 \u202e\nfreeze until blok4';
    const d = compile(source).diagnostics.find((x) => x.code === 'unknown-block')!;
    const shown = formatDiagnostic({ ...d, span: { start: 0, end: 3 }, message: 'at \x1b[2J' }, { file: 'a.tl', source });
    expect(shown).not.toMatch(/[\x00-\x08\x0b-\x1f\u202e]/);
    expect(shown).toContain('error unknown-block: at \\u001b[2J');
    expect(shown).toContain('1 | use tiny # \ufffd]0;owned\ufffd \ufffd\n    ^^^');
  });

  it('say how weight decay is written where it is written as other tools do', () => {
    // tiny's random base and the missing data aside.
    const message = (source: string) => compile(source).diagnostics.filter((d) => d.code !== 'frozen-random-base' && d.code !== 'missing-data').map((d) => `${d.code}: ${d.message}`);
    expect(message('use tiny; optimizer adamw decay 0.01')[0]).toContain("(weight decay reads 'optimizer adamw weight decay 0.01')");
    expect(message('use tiny; optimizer sgd wd 1e-4')[0]).toContain("(weight decay reads 'optimizer sgd weight decay 0.01')");
    expect(message('use tiny; optimizer adam weight_decay 0.01')[0]).toContain("did you mean 'weight decay'?");
    expect(message('use tiny; optimizer adam weight 0.01')[0]).toContain("expected 'decay' after 'weight'");
    expect(message('use tiny; optimizer adamw momentum 0.9')).toEqual(["option-not-applicable: adamw has no momentum setting; use 'optimizer sgd momentum 0.9' or drop it"]);
    expect(message('use tiny; optimizer sgd weight decay 1')).toEqual(['bad-number: weight decay must be at least 0 and below 1, found 1']);
    expect(message('use tiny; optimizer sgd weight decay 1e-4 weight decay 1e-3')).toEqual(["option-repeated: 'weight decay' is given twice in this statement; keep one"]);
    expect(message('use tiny; data "x" balance balance')).toEqual(["option-repeated: 'balance' is given twice in this statement; keep one"]);
    expect(message('use tiny; evaluate "t" flip')).toEqual(["unexpected-token: unexpected 'flip' in 'evaluate'; expected 'tta' or the end of the statement"]);
    expect(message('use tiny; label smoothing 1')).toEqual(['bad-number: label smoothing must be at least 0 and below 1, found 1']);
    expect(message('use tiny; label 0.1')).toEqual(["unexpected-token: expected 'smoothing' after 'label', found the number 0.1"]);
    expect(message('use tiny; label smoothing 0.1; label smoothing 0.2')[0]).toMatch(/^duplicate-statement: 'label smoothing' is already given/);
    expect(message('use tiny; schedule cosine min 1e-5 min 1e-6')).toEqual(["option-repeated: 'min' is given twice in this statement; keep one"]);
    expect(message('use tiny; clip 1')).toEqual([
      "unexpected-token: expected 'norm', 'value' or 'none' after 'clip', found the number 1 (clip norm 1 keeps the gradients' global norm at most 1; clip value 0.5 each gradient within ±0.5)",
    ]);
    expect(message('use tiny; clip nrom 1')).toEqual(["unknown-clip: unknown clipping 'nrom'; did you mean 'norm'?"]);
    expect(message('use tiny; clip value 0')).toEqual(['bad-number: clipping threshold must be above 0, found 0']);
    expect(message('use tiny; phase a clip norm 1 clip value 2')).toEqual(["option-repeated: 'clip' is given twice in this statement; keep one"]);
    // Inside a phase, `decay` is the phase's per-block rate decay: a small one is most likely a weight decay.
    expect(message('use tiny; phase unfreeze block5 optimizer adamw decay 0.01')).toEqual([
      "rate-decay-steep: 'decay 0.01' is the per-block rate decay: each block learns at 0.01 times the rate of the block above it (the next at 1e-4 times), so the lower blocks barely train; for weight decay write 'optimizer adamw weight decay 0.01' (a per-block decay is typically 0.3 to 0.9)",
    ]);
  });

  it('list valid blocks for an unknown block', () => {
    const d = compile('use vgg16; freeze until block7').diagnostics.find((x) => x.code === 'unknown-block');
    expect(d?.message).toContain("'block1', 'block2', 'block3', 'block4', 'block5'");
  });

  it('never pick a suggestion among equally near names', () => {
    // block7 is one edit from each of block1..block5: naming two of them would be arbitrary.
    expect(compile('use vgg16; freeze until block7').diagnostics.find((x) => x.code === 'unknown-block')?.message).not.toContain('did you mean');
    expect(didYouMean('block7', ['block1', 'block2', 'block3'])).toBe('');
    expect(didYouMean('blokc1', ['block1', 'block2', 'block3'])).toBe("; did you mean 'block1'?");
    expect(didYouMean('adm', ['adam', 'sgd'])).toBe("; did you mean 'adam'?");
    expect(didYouMean('rms', ['rmsprop', 'rmsprops', 'sgd'])).toBe("; did you mean 'rmsprop' or 'rmsprops'?");
  });

  it('recover after errors and report all of them', () => {
    const ds = compile('use resnt50\nlr fast\naugment spin\nepochs -1\nfrezee all\n').diagnostics;
    expect(ds.map((d) => d.code)).toEqual(['unknown-model', 'unexpected-token', 'unknown-augment', 'bad-number', 'missing-data', 'unknown-statement']);
    expect(ds.map((d) => d.span.start)).toEqual([...ds.map((d) => d.span.start)].sort((a, b) => a - b));
  });

  it('say what a statement takes when it meets an unknown option', () => {
    const d = compile('use tiny; phase lr 1e-4 unfreze block5').diagnostics.find((x) => x.code === 'unexpected-token');
    expect(d?.message).toContain("did you mean 'unfreeze'?");
  });

  it("say that an option on a line of its own belongs to the statement before, joined into the line it should be", () => {
    const messages = (source: string) => compile(source).diagnostics.filter((d) => d.code === 'unknown-statement').map((d) => [d.span.start, d.message]);
    expect(messages('use tiny; data "d"\nphase tune\n  unfreeze block5\n  decay 0.5\n')).toEqual([
      [32, "'unfreeze' belongs to the 'phase' statement before it, but the line end closed that statement; write them as one: 'phase tune unfreeze block5'"],
      [50, "'decay' belongs to the 'phase' statement before it, but the line end closed that statement; write them as one: 'phase tune unfreeze block5 decay 0.5'"],
    ]);
    expect(messages('use tiny; data "d"\nschedule cosine\n  warmup 2\nhead dense 8; dropout 0.5')).toEqual([
      [37, "'warmup' belongs to the 'schedule' statement before it, but the line end closed that statement; write them as one: 'schedule cosine warmup 2'"],
      [60, "'dropout' belongs to the 'head' statement before it, but a ';' closed that statement; write them as one: 'head dense 8 dropout 0.5'"],
    ]);
    expect(messages('use tiny; data "d"\naugment flip\n  rotate 15\nmonitor val_loss')).toEqual([
      [34, "'rotate' is not a statement; to go on with the 'augment' list before it, end the line above with ','"],
      [44, "'monitor' is an option of 'early stop' and of 'checkpoint', not a statement of its own; write it in one of them, e.g. 'early stop monitor val_loss'"],
    ]);
    expect(messages('use tiny; data "d"\nunfreeze block5')[0]![1]).toBe("'unfreeze' is an option of 'phase', not a statement of its own; write it in a 'phase' statement: 'phase unfreeze block5'");
    // A typo of a statement keyword is still one.
    expect(messages('use tiny; data "d"\naugment flip\nfrezee all')[0]![1]).toMatch(/found 'frezee'; did you mean 'freeze'\?$/);
  });

  it("say what to write for habits of other languages: '=', ':', a name with '-', a unit, a path or string in the wrong quotes", () => {
    const first = (source: string) => compile(`freeze none; data "d"; ${source}`).diagnostics[0]!.message;
    expect(first('use tiny; lr=1e-4')).toBe("unexpected character '='; options take their value after a space, with no '=': lr 1e-4");
    expect(first('use tiny; epochs: 5')).toBe("unexpected character ':'; options take their value after a space, with no ':': lr 1e-4");
    expect(first('use tiny; phase head unfreeze all')).toBe(`a phase cannot be named 'head' as written (it is a word TL reserves); quote it, phase "head", or pick another name`);
    expect(first('use tiny; phase 2 unfreeze all')).toBe(`a phase cannot be named '2' as written (it is a number); quote it, phase "2", or pick another name`);
    expect(compile('use tiny; data "d"; freeze none; phase "head" unfreeze all').diagnostics).toEqual([]);
    expect(first('use tiny; phase unfreeze block5, head')).toBe("the head always trains; 'unfreeze' names blocks (block1..block5), quoted layers, or 'all'");
    expect(first('use tiny; freeze until head')).toBe("'freeze until head' would freeze the whole base: write 'freeze all' (the head always trains)");
    expect(first('use resnet-50')).toBe("'resnet-50' is not one name: names have no '-'; write resnet50");
    expect(first('use tiny; augment rotate 15deg')).toBe("'15deg': numbers are written without a unit; write 15");
    expect(first('use tiny; evaluate test')).toBe(`expected a quoted string after 'evaluate', found 'test'; paths go in double quotes, e.g. evaluate "test"`);
    expect(first("use tiny; evaluate 'test'")).toBe(`unexpected character '''; strings take double quotes: "images/"`);
    expect(first('use tiny; augment flip rotate 15')).toBe("unexpected number 15 in 'augment'; expected ',' or the end of the statement (ops are separated by ',': augment flip, rotate 15)");
  });

  it('name a stray number or string plainly', () => {
    const messages = (source: string) => compile(source).diagnostics.filter((d) => d.code === 'unexpected-token').map((d) => d.message);
    expect(messages('use tiny; lr 0.001.5')).toEqual(["unexpected number .5 in 'lr'; expected the end of the statement"]);
    expect(messages('use tiny; data "a" "b"')).toEqual(["unexpected string \"b\" in 'data'; expected 'split', 'val', 'balance' or the end of the statement"]);
  });
});
