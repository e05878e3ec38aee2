/**
 * The house's shape, checked on the source: one pipeline whose stages import only from the stages
 * before them, each library in the one stage that owns it, and a compiler that reaches none of
 * Node's modules (test/web/compiler.test.ts runs it in a browser).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './service/helpers.ts';

/** The pipeline, earliest first: grammar/, then the stages under src/. */
const STAGES = ['grammar', 'diagnostics', 'syntax', 'zoo', 'checks', 'plan', 'compile.ts', 'format', 'index.ts', 'executor', 'service', 'api', 'client', 'cli'] as const;
type Stage = (typeof STAGES)[number];

/** The stages a compile runs, which must stay free of Node. */
const COMPILER: readonly Stage[] = ['grammar', 'diagnostics', 'syntax', 'zoo', 'checks', 'plan', 'compile.ts', 'format', 'index.ts'];

/** Each library and the only stages that may load it (`import type` aside: syntax reads chevrotain's tokens). */
const OWNERS: Record<string, readonly Stage[]> = {
  chevrotain: ['grammar'],
  zod: ['plan'],
  '@tensorflow': ['executor'],
  graphql: ['api'],
  'graphql-yoga': ['api'],
  'better-sqlite3': ['service'],
};

interface Import {
  readonly file: string;
  readonly from: Stage;
  readonly specifier: string;
  /** `import type`: erased when compiled, so it loads nothing. */
  readonly typeOnly: boolean;
}

function stageOf(file: string): Stage | undefined {
  const [top, next] = relative(root, file).split('/');
  const stage = top === 'src' ? next : top;
  return (STAGES as readonly string[]).includes(stage!) ? (stage as Stage) : undefined;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') || e.name.endsWith('.tsx') ? [path] : [];
  });
}

/** Every static, dynamic and type import and every re-export of src/ and grammar/ (its generator, a build script, aside). */
function imports(): Import[] {
  const files = [...sources(join(root, 'src')), ...sources(join(root, 'grammar')).filter((f) => !f.endsWith('generate.ts'))];
  return files.flatMap((file) => {
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    const statics = [...text.matchAll(/^\s*(?:import|export)\s+(type\s+)?(?:[^;'"]*?\bfrom\s*)?['"]([^'"]+)['"]/gm)];
    const dynamics = [...text.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]/g)];
    return [
      ...statics.map((m) => ({ file: relative(root, file), from: stageOf(file)!, specifier: m[2]!, typeOnly: m[1] !== undefined })),
      ...dynamics.map((m) => ({ file: relative(root, file), from: stageOf(file)!, specifier: m[1]!, typeOnly: false })),
    ];
  });
}

const all = imports();
const packageOf = (specifier: string) => specifier.split('/')[0]!;

describe('imports', () => {
  it('are found: the reader sees the files and their imports', () => {
    expect(new Set(all.map((i) => i.from))).toEqual(new Set(STAGES));
    expect(all.length).toBeGreaterThan(500);
    expect(all.some((i) => i.file === 'src/compile.ts' && i.specifier === './syntax/parse.ts')).toBe(true);
  });

  it('run from each stage only to itself or an earlier one', () => {
    const backwards = all.flatMap((i) => {
      if (!i.specifier.startsWith('.')) return [];
      const to = stageOf(resolve(dirname(join(root, i.file)), i.specifier));
      if (to === undefined) return [`${i.file} imports ${i.specifier}, outside the pipeline`];
      return STAGES.indexOf(to) > STAGES.indexOf(i.from) ? [`${i.file} (${i.from}) imports ${i.specifier} (${to}, a later stage)`] : [];
    });
    expect(backwards).toEqual([]);
  });

  it('bring each library into the stage that owns it and no other', () => {
    const strays = all.flatMap((i) => {
      const owners = OWNERS[packageOf(i.specifier)];
      return owners && !owners.includes(i.from) && !i.typeOnly ? [`${i.file} (${i.from}) imports ${i.specifier}, which belongs to ${owners.join(', ')}`] : [];
    });
    expect(strays).toEqual([]);
  });

  it('keep the compiler free of Node, so that it runs in a browser', () => {
    const node = all.filter((i) => COMPILER.includes(i.from) && (i.specifier.startsWith('node:') || ['fs', 'path', 'url', 'module', 'os'].includes(i.specifier)));
    expect(node.map((i) => `${i.file} imports ${i.specifier}`)).toEqual([]);
  });
});
