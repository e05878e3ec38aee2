/**
 * The typed syntax tree of a script: what was written, where, before any meaning is checked.
 * Every node keeps its `span`; optional fields are the options a statement may leave out.
 */
import type { Span } from '../diagnostics/diagnostic.ts';

/** A word or quoted string as written; `text` is unescaped for strings. */
export interface Word {
  readonly text: string;
  readonly quoted: boolean;
  readonly span: Span;
}

export interface NumberNode {
  readonly value: number;
  readonly text: string;
  readonly span: Span;
}

export type Setting =
  | { readonly kind: 'epochs'; readonly value: NumberNode; readonly span: Span }
  /** `unit`: the block, `head` or quoted layer whose own rate this sets; absent: the phase's rate. */
  | { readonly kind: 'lr'; readonly unit?: Word; readonly value: NumberNode; readonly span: Span }
  /** `lr auto [steps N]`: the phase's rate searched (in `steps` training steps) when it starts; `auto` is the word's span. */
  | { readonly kind: 'lrAuto'; readonly auto: Span; readonly steps?: NumberNode; readonly span: Span }
  | { readonly kind: 'batch'; readonly value: NumberNode; readonly span: Span }
  /** `weightDecay`: the number after `weight decay`. */
  | { readonly kind: 'optimizer'; readonly name: Word; readonly momentum?: NumberNode; readonly weightDecay?: NumberNode; readonly span: Span }
  | {
      readonly kind: 'schedule';
      readonly name: Word;
      readonly warmup?: NumberNode;
      readonly min?: NumberNode;
      readonly every?: NumberNode;
      readonly gamma?: NumberNode;
      readonly span: Span;
    }
  /** `clip norm 1`, `clip value 0.5` (`mode` the word, `max` the number); `clip none`: no mode and no max. */
  | { readonly kind: 'clip'; readonly mode?: Word; readonly max?: NumberNode; readonly span: Span };

/** How a setting is named in messages and told apart from others: `lr`, or `lr block4` for one unit's rate. */
export function settingLabel(s: Setting): string {
  if (s.kind === 'lrAuto') return 'lr'; // the phase's rate, as `lr 1e-3` sets it
  if (s.kind !== 'lr' || !s.unit) return s.kind;
  return `lr ${s.unit.quoted ? `"${s.unit.text}"` : s.unit.text}`;
}

export type HeadLayerNode =
  | { readonly kind: 'dense'; readonly units: NumberNode; readonly activation?: Word; readonly span: Span }
  | { readonly kind: 'dropout'; readonly rate: NumberNode; readonly span: Span };

export interface AugmentOpNode {
  readonly name: Word;
  readonly arg?: NumberNode | Word;
  readonly span: Span;
}

export interface UnfreezeNode {
  readonly all: boolean;
  readonly targets: readonly Word[];
  readonly span: Span;
}

export type Statement =
  | {
      readonly kind: 'use';
      readonly model: Word;
      readonly weights?: Word;
      readonly input?: NumberNode;
      readonly cut?: Word;
      readonly span: Span;
    }
  /** `balance`: the keyword's span, where given. */
  | { readonly kind: 'data'; readonly path: Word; readonly split?: NumberNode; readonly val?: Word; readonly balance?: Span; readonly span: Span }
  | { readonly kind: 'head'; readonly layers: readonly HeadLayerNode[]; readonly span: Span }
  | { readonly kind: 'freeze'; readonly mode: 'all' | 'none' | 'until'; readonly target?: Word; readonly span: Span }
  | { readonly kind: 'augment'; readonly ops: readonly AugmentOpNode[]; readonly span: Span }
  | { readonly kind: 'setting'; readonly setting: Setting; readonly span: Span }
  | {
      readonly kind: 'phase';
      readonly name?: Word;
      readonly settings: readonly Setting[];
      readonly unfreeze: readonly UnfreezeNode[];
      readonly decay?: NumberNode;
      readonly span: Span;
    }
  | {
      readonly kind: 'adapt';
      readonly method: Word;
      readonly weight?: NumberNode;
      readonly threshold?: NumberNode;
      readonly rounds?: NumberNode;
      readonly target?: Word;
      readonly at?: Word;
      readonly span: Span;
    }
  | { readonly kind: 'earlyStop'; readonly patience?: NumberNode; readonly monitor?: Word; readonly span: Span }
  | {
      readonly kind: 'checkpoint';
      /** `best`, or whatever word was written instead (checked later); absent for `every N`. */
      readonly mode?: Word;
      readonly every?: NumberNode;
      readonly monitor?: Word;
      readonly span: Span;
    }
  | { readonly kind: 'labelSmoothing'; readonly value: NumberNode; readonly span: Span }
  | { readonly kind: 'seed'; readonly value: NumberNode; readonly span: Span }
  /** `tta`: the keyword's span, where given. */
  | { readonly kind: 'evaluate'; readonly path: Word; readonly tta?: Span; readonly span: Span }
  | { readonly kind: 'export'; readonly path: Word; readonly span: Span };

export type StatementKind = Statement['kind'];

export interface Comment {
  readonly text: string;
  readonly span: Span;
}

export interface Script {
  readonly statements: readonly Statement[];
  readonly comments: readonly Comment[];
  /**
   * The keyword of each statement the parser could not read (an unknown word counts as the keyword
   * it is a typo of), so that checks for a missing statement do not repeat a syntax error.
   */
  readonly unreadable: readonly string[];
}
