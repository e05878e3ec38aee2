/**
 * The webgpu parity suite (test/webgpu/cases) run inside the benchmark bundle, so the GPU machine,
 * which has no Node tooling, checks TL's kernels against the cpu backend on the real GPU too.
 */
import { PARITY_SUITES } from '../../test/webgpu/cases/index.ts';
import { RELATIVE_TOLERANCE, worstError } from '../../test/webgpu/parity.ts';

export interface ParityRow { readonly suite: string; readonly cases: number; readonly failed: readonly string[]; readonly worst: number }

export async function parityRows(): Promise<ParityRow[]> {
  const rows: ParityRow[] = [];
  for (const [suite, cases] of Object.entries(PARITY_SUITES)) {
    const failed: string[] = [];
    let worst = 0;
    const list = cases();
    for (const c of list) {
      let err: number;
      try {
        err = await worstError(c);
      } catch (e) {
        err = Infinity;
        console.log(`  ${c.name}: ${(e as Error).message}`);
      }
      worst = Math.max(worst, err);
      if (!(err <= RELATIVE_TOLERANCE)) failed.push(`${c.name} (${err})`);
    }
    console.log(`  ${suite}: ${list.length - failed.length}/${list.length} within ${RELATIVE_TOLERANCE}`);
    rows.push({ suite, cases: list.length, failed, worst });
  }
  return rows;
}

export function parityTable(rows: readonly ParityRow[]): string {
  const lines = [`| suite | cases | passed (relative error <= ${RELATIVE_TOLERANCE}) | worst relative error |`, '| --- | --- | --- | --- |'];
  for (const r of rows) lines.push(`| ${r.suite} | ${r.cases} | ${r.cases - r.failed.length} | ${r.worst.toExponential(2)} |`);
  const failures = rows.flatMap((r) => r.failed.map((f) => `- ${r.suite}: ${f}`));
  return [lines.join('\n'), ...(failures.length ? ['', 'Failures:', ...failures] : [])].join('\n');
}
