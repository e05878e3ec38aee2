/** All checks, one concern each, run in this order over the parsed script. */
import type { Diagnostic } from '../diagnostics/diagnostic.ts';
import type { Script } from '../syntax/ast.ts';
import { adaptCheck } from './adapt.ts';
import { augmentCheck } from './augment.ts';
import { createContext, type Check, type CheckContext } from './context.ts';
import { dataCheck } from './data.ts';
import { duplicatesCheck } from './duplicates.ts';
import { frozenRandomBaseCheck } from './frozen-random-base.ts';
import { modelCheck } from './model.ts';
import { namesCheck } from './names.ts';
import { numbersCheck } from './numbers.ts';
import { rateDecayCheck } from './rate-decay.ts';
import { scheduleFitCheck } from './schedule-fit.ts';
import { settingPlacementCheck } from './setting-placement.ts';
import { targetsCheck } from './targets.ts';
import { trainabilityCheck } from './trainability.ts';
import { unitRatesCheck } from './unit-rates.ts';

export const CHECKS: readonly Check[] = [
  modelCheck,
  duplicatesCheck,
  settingPlacementCheck,
  numbersCheck,
  namesCheck,
  targetsCheck,
  augmentCheck,
  adaptCheck,
  dataCheck,
  frozenRandomBaseCheck,
  trainabilityCheck,
  unitRatesCheck,
  rateDecayCheck,
  scheduleFitCheck,
];

export function runChecks(script: Script): { context: CheckContext; diagnostics: Diagnostic[] } {
  const context = createContext(script);
  // flatMap, not push(...): a check may find more diagnostics than a call takes arguments.
  const diagnostics: Diagnostic[] = CHECKS.flatMap((check) => check.run(context));
  return { context, diagnostics };
}
