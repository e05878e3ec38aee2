/**
 * TL's grammar as a chevrotain CstParser, with no semantic actions: it only builds a concrete syntax
 * tree. src/syntax turns that tree into the typed AST. `script` is the whole-file rule (used for the
 * generated diagrams); the compiler parses one statement at a time through `singleStatement`, so an
 * error in one statement never hides the next.
 */
import type { IParserConfig } from 'chevrotain';
import { CstParser, EOF } from './chevrotain.ts';
import {
  allTokens, Comma, Identifier, Kw, Newline, NumberLiteral, Semicolon, StringLiteral,
} from './tokens.ts';

export class TlParser extends CstParser {
  constructor(config: Partial<IParserConfig> = {}) {
    super(allTokens, { recoveryEnabled: false, maxLookahead: 2, ...config });
    this.performSelfAnalysis();
  }

  script = this.RULE('script', () => {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.CONSUME(Semicolon) },
        { ALT: () => this.CONSUME(Newline) },
        { ALT: () => this.SUBRULE(this.statement) },
      ]);
    });
  });

  singleStatement = this.RULE('singleStatement', () => {
    this.SUBRULE(this.statement);
    this.CONSUME(EOF);
  });

  statement = this.RULE('statement', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.useStatement) },
      { ALT: () => this.SUBRULE(this.dataStatement) },
      { ALT: () => this.SUBRULE(this.headStatement) },
      { ALT: () => this.SUBRULE(this.freezeStatement) },
      { ALT: () => this.SUBRULE(this.augmentStatement) },
      { ALT: () => this.SUBRULE(this.labelSmoothingStatement) },
      { ALT: () => this.SUBRULE(this.setting) },
      { ALT: () => this.SUBRULE(this.phaseStatement) },
      { ALT: () => this.SUBRULE(this.adaptStatement) },
      { ALT: () => this.SUBRULE(this.earlyStopStatement) },
      { ALT: () => this.SUBRULE(this.checkpointStatement) },
      { ALT: () => this.SUBRULE(this.seedStatement) },
      { ALT: () => this.SUBRULE(this.evaluateStatement) },
      { ALT: () => this.SUBRULE(this.exportStatement) },
    ]);
  });

  /** A model or layer reference: a bare name (block4, resnet50) or a quoted native name / path. */
  ref = this.RULE('ref', () => {
    this.OR([{ ALT: () => this.CONSUME(Identifier) }, { ALT: () => this.CONSUME(StringLiteral) }]);
  });

  useStatement = this.RULE('useStatement', () => {
    this.CONSUME(Kw.use);
    this.SUBRULE(this.ref);
    this.MANY(() => {
      this.OR([
        {
          ALT: () => {
            this.CONSUME(Kw.weights);
            this.OR2([
              { ALT: () => this.CONSUME(Kw.none) },
              { ALT: () => this.CONSUME2(Identifier) },
              { ALT: () => this.CONSUME2(StringLiteral) },
            ]);
          },
        },
        { ALT: () => { this.CONSUME(Kw.input); this.CONSUME(NumberLiteral); } },
        { ALT: () => { this.CONSUME(Kw.cut); this.SUBRULE2(this.ref); } },
      ]);
    });
  });

  dataStatement = this.RULE('dataStatement', () => {
    this.CONSUME(Kw.data);
    this.CONSUME(StringLiteral);
    this.MANY(() => {
      this.OR([
        { ALT: () => { this.CONSUME(Kw.split); this.CONSUME(NumberLiteral); } },
        { ALT: () => { this.CONSUME(Kw.val); this.CONSUME2(StringLiteral); } },
        { ALT: () => this.CONSUME(Kw.balance) },
      ]);
    });
  });

  headStatement = this.RULE('headStatement', () => {
    this.CONSUME(Kw.head);
    this.MANY(() => {
      this.OR([
        {
          ALT: () => {
            this.CONSUME(Kw.dense);
            this.CONSUME(NumberLiteral);
            this.OPTION(() => this.CONSUME(Identifier));
          },
        },
        { ALT: () => { this.CONSUME(Kw.dropout); this.CONSUME2(NumberLiteral); } },
      ]);
    });
  });

  freezeStatement = this.RULE('freezeStatement', () => {
    this.CONSUME(Kw.freeze);
    this.OR([
      { ALT: () => { this.CONSUME(Kw.until); this.SUBRULE(this.ref); } },
      { ALT: () => this.CONSUME(Kw.all) },
      { ALT: () => this.CONSUME(Kw.none) },
    ]);
  });

  augmentStatement = this.RULE('augmentStatement', () => {
    this.CONSUME(Kw.augment);
    this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.augmentOp) });
  });

  augmentOp = this.RULE('augmentOp', () => {
    this.CONSUME(Identifier);
    this.OPTION(() => {
      this.OR([{ ALT: () => this.CONSUME(NumberLiteral) }, { ALT: () => this.CONSUME2(Identifier) }]);
    });
  });

  /** Training settings: at top level they shape the first phase; inside `phase` they change that phase. */
  setting = this.RULE('setting', () => {
    this.OR([
      { ALT: () => { this.CONSUME(Kw.epochs); this.CONSUME(NumberLiteral); } },
      {
        // `lr 1e-4` sets the phase's rate; `lr block4 1e-5` (or a quoted layer, or `head`) one unit's;
        // `lr auto [steps N]` has the phase's rate searched (in N steps) when it starts.
        ALT: () => {
          this.CONSUME(Kw.lr);
          this.OR4([
            {
              ALT: () => {
                this.CONSUME(Kw.auto);
                this.OPTION2(() => { this.CONSUME(Kw.steps); this.CONSUME5(NumberLiteral); });
              },
            },
            {
              ALT: () => {
                this.OPTION(() => this.OR2([{ ALT: () => this.SUBRULE(this.ref) }, { ALT: () => this.CONSUME(Kw.head) }]));
                this.CONSUME2(NumberLiteral);
              },
            },
          ]);
        },
      },
      { ALT: () => { this.CONSUME(Kw.batch); this.CONSUME3(NumberLiteral); } },
      { ALT: () => this.SUBRULE(this.optimizerSetting) },
      { ALT: () => this.SUBRULE(this.scheduleSetting) },
      {
        // `clip norm 1`, `clip value 0.5`; `clip none` turns off a clip an earlier phase set.
        ALT: () => {
          this.CONSUME(Kw.clip);
          this.OR3([{ ALT: () => this.CONSUME(Kw.none) }, { ALT: () => { this.CONSUME(Identifier); this.CONSUME4(NumberLiteral); } }]);
        },
      },
    ]);
  });

  optimizerSetting = this.RULE('optimizerSetting', () => {
    this.CONSUME(Kw.optimizer);
    this.CONSUME(Identifier);
    this.MANY(() => {
      this.OR([
        { ALT: () => { this.CONSUME(Kw.momentum); this.CONSUME(NumberLiteral); } },
        { ALT: () => { this.CONSUME(Kw.weight); this.CONSUME(Kw.decay); this.CONSUME2(NumberLiteral); } },
      ]);
    });
  });

  scheduleSetting = this.RULE('scheduleSetting', () => {
    this.CONSUME(Kw.schedule);
    this.CONSUME(Identifier);
    this.MANY(() => {
      this.OR([
        { ALT: () => { this.CONSUME(Kw.warmup); this.CONSUME(NumberLiteral); } },
        { ALT: () => { this.CONSUME(Kw.min); this.CONSUME2(NumberLiteral); } },
        { ALT: () => { this.CONSUME(Kw.every); this.CONSUME3(NumberLiteral); } },
        { ALT: () => { this.CONSUME(Kw.gamma); this.CONSUME4(NumberLiteral); } },
      ]);
    });
  });

  phaseStatement = this.RULE('phaseStatement', () => {
    this.CONSUME(Kw.phase);
    this.OPTION(() => this.SUBRULE(this.ref));
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.setting) },
        { ALT: () => this.SUBRULE(this.unfreezeClause) },
        { ALT: () => { this.CONSUME(Kw.decay); this.CONSUME(NumberLiteral); } },
      ]);
    });
  });

  unfreezeClause = this.RULE('unfreezeClause', () => {
    this.CONSUME(Kw.unfreeze);
    this.OR([
      { ALT: () => this.CONSUME(Kw.all) },
      { ALT: () => this.AT_LEAST_ONE_SEP({ SEP: Comma, DEF: () => this.SUBRULE(this.ref) }) },
    ]);
  });

  adaptStatement = this.RULE('adaptStatement', () => {
    this.CONSUME(Kw.adapt);
    this.CONSUME(Identifier);
    this.MANY(() => {
      this.OR([
        { ALT: () => { this.CONSUME(Kw.weight); this.CONSUME(NumberLiteral); } },
        { ALT: () => { this.CONSUME(Kw.threshold); this.CONSUME2(NumberLiteral); } },
        { ALT: () => { this.CONSUME(Kw.rounds); this.CONSUME3(NumberLiteral); } },
        { ALT: () => { this.CONSUME(Kw.target); this.CONSUME(StringLiteral); } },
        { ALT: () => { this.CONSUME(Kw.at); this.OR2([{ ALT: () => this.CONSUME(Kw.phase) }, { ALT: () => this.CONSUME2(Identifier) }]); } },
      ]);
    });
  });

  earlyStopStatement = this.RULE('earlyStopStatement', () => {
    this.CONSUME(Kw.early);
    this.CONSUME(Kw.stop);
    this.MANY(() => {
      this.OR([
        { ALT: () => { this.CONSUME(Kw.patience); this.CONSUME(NumberLiteral); } },
        { ALT: () => { this.CONSUME(Kw.monitor); this.CONSUME(Identifier); } },
      ]);
    });
  });

  checkpointStatement = this.RULE('checkpointStatement', () => {
    this.CONSUME(Kw.checkpoint);
    this.OR([
      { ALT: () => { this.CONSUME(Kw.every); this.CONSUME(NumberLiteral); } },
      { ALT: () => this.CONSUME(Identifier) },
    ]);
    this.OPTION(() => { this.CONSUME(Kw.monitor); this.CONSUME2(Identifier); });
  });

  labelSmoothingStatement = this.RULE('labelSmoothingStatement', () => {
    this.CONSUME(Kw.label);
    this.CONSUME(Kw.smoothing);
    this.CONSUME(NumberLiteral);
  });

  seedStatement = this.RULE('seedStatement', () => {
    this.CONSUME(Kw.seed);
    this.CONSUME(NumberLiteral);
  });

  evaluateStatement = this.RULE('evaluateStatement', () => {
    this.CONSUME(Kw.evaluate);
    this.CONSUME(StringLiteral);
    this.OPTION(() => this.CONSUME(Kw.tta));
  });

  exportStatement = this.RULE('exportStatement', () => {
    this.CONSUME(Kw.export);
    this.CONSUME(StringLiteral);
  });
}
