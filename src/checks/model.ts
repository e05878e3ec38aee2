/** `use`: a model is required, must be in the zoo or be a path, and its weights and input must make sense. */
import { error, type Diagnostic } from '../diagnostics/diagnostic.ts';
import { didYouMean, quoteList } from '../diagnostics/suggest.ts';
import { ZOO } from '../zoo/catalog.ts';
import type { Check } from './context.ts';
import { WEIGHT_SOURCES, isOneOf } from './vocabulary.ts';

export const modelCheck: Check = {
  name: 'model',
  run(ctx) {
    const found: Diagnostic[] = [];
    const use = ctx.use;
    if (!use) {
      if (ctx.script.unreadable.includes('use')) return found; // its syntax error says enough
      const at = ctx.script.statements[0]?.span ?? { start: 0, end: 0 };
      found.push(error('missing-use', `a script needs a model; add a line such as 'use mobilenetv2' (zoo: ${quoteList(ZOO.map((m) => m.name))})`, { start: at.start, end: at.start }));
      return found;
    }
    const zooNames = ZOO.map((m) => m.name);
    if (!use.model.quoted && !ctx.zoo) {
      found.push(error('unknown-model', `unknown model '${use.model.text}'${didYouMean(use.model.text, zooNames) || `; the zoo has ${quoteList(zooNames)}, or give a path: use "path/model.json"`}`, use.model.span));
    }
    if (use.model.quoted && !/\.json$/i.test(use.model.text) && !use.model.text.endsWith('/')) {
      found.push(error('bad-model-path', `a model path must name a tfjs Layers model.json, found "${use.model.text}"`, use.model.span));
    }
    const w = use.weights;
    if (w && !w.quoted) {
      if (!isOneOf(WEIGHT_SOURCES, w.text)) {
        found.push(error('unknown-weights', `weights must be ${quoteList(WEIGHT_SOURCES)} or a quoted path to a .h5 file or model.json, found '${w.text}'${didYouMean(w.text, WEIGHT_SOURCES)}`, w.span));
      } else if (w.text === 'imagenet' && ctx.zoo?.imagenet === 'unavailable') {
        found.push(error('weights-unavailable', `'${ctx.zoo.name}' has no pretrained weights; use 'weights none'`, w.span));
      } else if (w.text === 'imagenet' && use.model.quoted) {
        found.push(error('unknown-weights', `'weights imagenet' applies to zoo models; a model file brings its own weights`, w.span));
      }
    }
    return found;
  },
};
