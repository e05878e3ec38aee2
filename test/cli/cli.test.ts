import { execFile, spawn, spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Plan } from '../../src/plan/schema.ts';
import { closedPort } from '../closed-port.ts';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'tl-cli-'));

/** Runs the real `tl` binary (bin/tl.js over the built dist/), as a user would. */
function tl(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [join(root, 'bin/tl.js'), ...args], { cwd: root, input, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function script(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('tl check', () => {
  it('exits 0 on a clean script', () => {
    const r = tl(['check', 'examples/quickstart.tl']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('0 errors');
  });

  it('exits 1 and prints file:line:col, the line and a caret', () => {
    const file = script('bad.tl', 'use tiny\nfreeze until blok4\n');
    const r = tl(['check', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:2:14: error unknown-block: unknown block 'blok4'`);
    expect(r.stderr).toContain('2 | freeze until blok4\n                 ^^^^^');
  });

  it('reads a script saved as UTF-16 (with its byte-order mark) as written, and places errors the same', () => {
    const text = 'use tiny\nfreeze until blok4\n';
    const le = join(dir, 'utf16le.tl');
    writeFileSync(le, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
    const be = join(dir, 'utf16be.tl');
    writeFileSync(be, Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(text, 'utf16le').swap16()]));
    const utf8 = tl(['check', script('utf8.tl', text)]);
    expect(utf8.stderr).toContain("utf8.tl:2:14: error unknown-block: unknown block 'blok4'");
    for (const file of [le, be]) {
      const r = tl(['check', file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(utf8.stderr.replaceAll(join(dir, 'utf8.tl'), file));
    }
  });

  it('reads past a UTF-8 byte-order mark, and refuses a binary or non-UTF-8 file with where it fails', () => {
    const plain = tl(['check', script('plain.tl', 'use tiny\n')]);
    const bom = join(dir, 'bom.tl');
    writeFileSync(bom, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('use tiny\n')]));
    const withBom = tl(['check', bom]);
    expect(withBom.stderr).toBe(plain.stderr.replaceAll(join(dir, 'plain.tl'), bom));
    expect(withBom.stderr).toContain('bom.tl:1:1: warning frozen-random-base');

    const binary = join(dir, 'model.tl');
    writeFileSync(binary, Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]));
    expect(tl(['check', binary])).toMatchObject({ code: 2, stdout: '', stderr: `tl: cannot read ${binary}: it is not a text file (a NUL byte at line 3, column 1); give a .tl script\n` });
    // Latin-1, as older Windows editors save it: the path would silently read as 'donn\ufffdes'.
    const latin1 = join(dir, 'latin1.tl');
    writeFileSync(latin1, Buffer.from('use tiny # caf\u00e9\ndata "donn\u00e9es"\n', 'latin1'));
    expect(tl(['check', latin1])).toMatchObject({ code: 2, stderr: `tl: cannot read ${latin1}: it is not UTF-8 text (byte 0xe9 at line 1, column 15); save the script as UTF-8\n` });
    // The same text as UTF-8 reads, and so do 2-, 3- and 4-byte characters.
    expect(tl(['check', script('utf8-text.tl', 'use tiny # caf\u00e9 \u2192 \u{1f680}\nfreeze none\ndata "donn\u00e9es"\n')]).code).toBe(0);
  });

  it('prints JSON diagnostics with --format json', () => {
    const r = tl(['check', '--format', 'json', '-'], 'use tiny\nlr 0\n');
    expect(r.code).toBe(1);
    const ds = JSON.parse(r.stdout) as { code: string; line: number; column: number; severity: string }[];
    expect(ds.find((d) => d.severity === 'error')).toMatchObject({ code: 'lr-not-positive', line: 2, column: 4, severity: 'error' });
  });

  it('checks several files: each reported, an unreadable one named without stopping the rest, the worst status', () => {
    const good = script('many-good.tl', 'use tiny\ndata "d"\nfreeze none\n');
    const bad = script('many-bad.tl', 'use tiny\nfreeze until blok4\n');
    const missing = join(dir, 'many-missing.tl');
    const r = tl(['check', good, missing, bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${good}: 0 errors, 0 warnings\ntl: cannot read ${missing}: no such file\n`);
    expect(r.stderr).toContain(`${bad}:2:14: error unknown-block`);
    expect(tl(['check', good, bad]).code).toBe(1);
    expect(tl(['check', good, good]).code).toBe(0);
    // JSON: one array, each diagnostic naming its file.
    const json = tl(['check', '--format', 'json', bad, script('many-warn.tl', 'use resnet50\n')]);
    expect(json.code).toBe(1);
    expect((JSON.parse(json.stdout) as { file: string; code: string }[]).map((d) => [d.file.split('/').pop(), d.code])).toEqual([
      ['many-bad.tl', 'frozen-random-base'],
      ['many-bad.tl', 'unknown-block'],
      ['many-bad.tl', 'missing-data'],
      ['many-warn.tl', 'missing-data'],
    ]);
  });

  it('exits 2 on usage errors', () => {
    expect(tl(['check', join(dir, 'missing.tl')])).toMatchObject({ code: 2, stderr: expect.stringContaining('missing.tl: no such file') });
    // A folder where a script goes, for check and for submit alike (before any server is reached).
    for (const args of [['check', 'examples'], ['submit', 'examples', '--server', 'http://127.0.0.1:9']]) {
      expect(tl(args)).toMatchObject({ code: 2, stderr: 'tl: cannot read examples: it is a folder; give a .tl script\n' });
    }
    expect(tl(['check']).code).toBe(2);
    expect(tl(['frobnicate']).code).toBe(2);
    expect(tl(['check', '--format', 'xml', 'examples/quickstart.tl']).code).toBe(2);
  });
});

describe('tl submit', () => {
  it('says which server it could not reach and why, and exits 1', async () => {
    const port = await closedPort();
    expect(tl(['submit', 'examples/quickstart.tl', '--server', `http://127.0.0.1:${port}`])).toMatchObject({
      code: 1,
      stderr: `tl submit: cannot reach http://127.0.0.1:${port}/graphql: ECONNREFUSED; is tl serve running there?\n`,
    });
  });
});

describe('tl serve', () => {
  it('on a port in use, says so in one line and exits 2', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as AddressInfo;
    try {
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [join(root, 'bin/tl.js'), 'serve', '--port', String(port), '--db', join(dir, 'busy.db')], { cwd: root }, (err, stdout, stderr) =>
          resolve({ code: err ? (err.code as number) : 0, stdout, stderr }),
        );
      });
      expect(r).toMatchObject({ code: 2, stderr: `tl: cannot listen on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}\n` });
    } finally {
      busy.close();
    }
  }, 60_000);

  it('names the folder it cannot make for the database or the runs, and why, and exits 2', () => {
    const file = join(dir, 'in-the-way');
    writeFileSync(file, 'a file where a folder would go');
    expect(tl(['serve', '--port', '0', '--db', join(file, 'tl.db')])).toMatchObject({ code: 2, stderr: `tl: cannot open the database ${join(file, 'tl.db')}: a file is in the way of the folder\n` });
    expect(tl(['serve', '--port', '0', '--db', join(dir, 'serve.db'), '--runs', join(file, 'runs')])).toMatchObject({ code: 2, stderr: `tl: cannot keep jobs' runs in '${join(file, 'runs')}': a file is in the way of the folder\n` });
  });
});

describe('tl plan', () => {
  it('prints a valid plan on stdout', () => {
    const r = tl(['plan', 'examples/resnet50-two-phase.tl']);
    expect(r.code).toBe(0);
    const plan = Plan.parse(JSON.parse(r.stdout));
    expect(plan.phases.map((p) => p.trainable)).toEqual([['head'], ['block5', 'head']]);
  });

  it('prints nothing on stdout and exits 1 when the script has errors', () => {
    const r = tl(['plan', '-'], 'use resnt50');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("did you mean 'resnet50'?");
  });
});

describe('tl fmt', () => {
  it('prints the canonical form, and --write rewrites the file', () => {
    const file = script('fmt.tl', 'use tiny;epochs 3 # three\n');
    expect(tl(['fmt', file]).stdout).toBe('use tiny\nepochs 3  # three\n');
    expect(tl(['fmt', '--check', file]).code).toBe(1);
    expect(tl(['fmt', '--write', file]).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('use tiny\nepochs 3  # three\n');
    expect(tl(['fmt', '--check', file]).code).toBe(0);
  });

  it('checks or rewrites several files, and prints only one', () => {
    const a = script('fmt-a.tl', 'use tiny;epochs 3\n');
    const b = script('fmt-b.tl', 'use tiny\nepochs 3\n');
    expect(tl(['fmt', '--check', a, b])).toMatchObject({ code: 1, stderr: `${a} is not formatted; run tl fmt --write ${a}\n` });
    expect(tl(['fmt', '--write', a, b]).code).toBe(0);
    expect(readFileSync(a, 'utf8')).toBe('use tiny\nepochs 3\n');
    expect(tl(['fmt', '--check', a, b]).code).toBe(0);
    expect(tl(['fmt', a, b])).toMatchObject({ code: 2, stdout: '', stderr: 'tl: give one file to print in canonical form, or --write or --check to format 2\n' });
  });
});

describe('tl lr-find', () => {
  it("runs the quickstart's first phase at rising rates and suggests one", () => {
    const r = tl(['lr-find', 'examples/quickstart.tl', '--steps', '20', '--from', '1e-5', '--to', '1', '--backend', 'wasm']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("phase 'warmup' from the weights a run starts with: ");
    expect(r.stdout).toMatch(/^ +1e-5 +\d+\.\d{4} +\d+\.\d{4} +#*$/m);
    expect(r.stdout).toMatch(/\nsuggested: lr \d(\.\d)?e-\d in phase 'warmup'\n$/);
  }, 60_000);

  it('trains the phases before a later one first, showing their epochs on stderr, unless --from-start', () => {
    const file = script('two-phases.tl', `use tiny input 32\ndata "${join(root, 'examples/data/fashion-mini/train')}" split 0.2\nepochs 2\nphase tune unfreeze block5 lr 1e-4\n`);
    const r = tl(['lr-find', file, '--phase', 'tune', '--steps', '5', '--backend', 'wasm']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("training 'warmup' first (without early stopping or adaptation) to search 'tune' from the weights it leaves (--from-start skips this)\n");
    expect(r.stderr).toMatch(/^ +epoch +2\/2 +loss /m);
    expect(r.stdout).toContain("phase 'tune' from the weights 'warmup' left: 5 steps");
    const fresh = tl(['lr-find', file, '--phase', 'tune', '--steps', '5', '--backend', 'wasm', '--from-start']);
    expect(fresh.stderr).not.toContain('epoch');
    expect(fresh.stdout).toContain("phase 'tune' from the weights a run starts with: 5 steps");
    // --write: the suggestion becomes the phase's rate in the file, and nothing else changes.
    const before = readFileSync(file, 'utf8');
    const written = tl(['lr-find', file, '--phase', 'tune', '--steps', '12', '--backend', 'wasm', '--from-start', '--write']);
    const suggested = /suggested: lr (\S+) in phase 'tune'/.exec(written.stdout)?.[1];
    expect(suggested, written.stdout).toBeDefined();
    expect(written.stderr).toContain(`wrote lr ${suggested} into phase 'tune' of ${file}\n`);
    expect(readFileSync(file, 'utf8')).toBe(before.replace('phase tune unfreeze block5 lr 1e-4', `phase tune unfreeze block5 lr ${suggested}`));
    expect(tl(['lr-find', '-', '--write']).code).toBe(2);
  }, 60_000);

  it('names the phases when --phase names none, and refuses bad numbers, before loading anything', () => {
    expect(tl(['lr-find', 'examples/quickstart.tl', '--phase', 'tune'])).toMatchObject({
      code: 2, stderr: "tl: --phase: the script has no phase 'tune'; its phases are 'warmup', 'finetune'\n",
    });
    expect(tl(['lr-find', 'examples/quickstart.tl', '--steps', '1']).code).toBe(2);
    expect(tl(['lr-find', 'examples/quickstart.tl', '--from', '1', '--to', '1e-3']).code).toBe(2);
  });
});

describe('tl run', () => {
  // Where the native bindings are missing (as on any machine whose install could not download
  // libtensorflow), asking for them by name fails at once with what is missing, not as an internal error.
  const nativeInstalled = ['tfjs-node-gpu', 'tfjs-node'].some((p) => existsSync(join(root, 'node_modules/@tensorflow', p, 'package.json')));
  it.skipIf(nativeInstalled)('says which native backend is missing when --backend tensorflow cannot load', () => {
    const runDir = join(dir, 'no-backend');
    const r = tl(['run', 'examples/quickstart.tl', '--backend', 'tensorflow', '--run-dir', runDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error no-backend: no usable tfjs backend: tensorflow: @tensorflow/tfjs-node-gpu is not installed; @tensorflow/tfjs-node is not installed');
  });

  it('prints a failed run as a diagnostic: the statement, a caret, and the path with its controls escaped', () => {
    const file = script('no-data.tl', 'use tiny\nfreeze none\ndata "gone\x1b[2J"\n');
    const r = tl(['run', file, '--backend', 'cpu', '--run-dir', join(dir, 'no-data')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:3:1: error data-not-found: data '${join(dir, 'gone')}\\u001b[2J' does not exist`);
    expect(r.stderr).toContain('\n3 | data "gone\ufffd[2J"\n    ^^^^^^^^^^^^^^^\n');
    expect(r.stderr).not.toContain('\x1b');
  });

  it('runs a plan tl plan wrote (.json), checked first: a field out of place is named and nothing trains', () => {
    const data = join(root, 'examples/data/fashion-mini/train');
    const planned = tl(['plan', script('as-plan.tl', `use tiny input 32\ndata "${data}" split 0.25\nfreeze none\nepochs 1\nbatch 16\n`)]);
    expect(planned.code).toBe(0);
    const file = join(dir, 'as-plan.plan.json');
    writeFileSync(file, planned.stdout);
    const r = tl(['run', file, '--backend', 'wasm', '--json', '--run-dir', join(dir, 'as-plan')]);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; trainImages?: number });
    expect(events.at(-1)!.type).toBe('jobFinished');
    expect(events[0]).toMatchObject({ type: 'jobStarted', trainImages: 300 });

    const edited = JSON.parse(planned.stdout) as { phases: { lr: unknown }[]; seed?: unknown };
    edited.phases[0]!.lr = 'fast';
    delete edited.seed;
    writeFileSync(file, JSON.stringify(edited));
    const bad = tl(['run', file, '--backend', 'wasm', '--run-dir', join(dir, 'as-plan-bad')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`${file}: error bad-plan: phases[0].lr: expected number, received string\n${file}: error bad-plan: seed: expected number, received undefined\n`);
    writeFileSync(file, '{"version": 1, "phases": [');
    expect(tl(['run', file, '--run-dir', join(dir, 'as-plan-bad')]).stderr).toMatch(new RegExp(`^${file.replace(/[.]/g, '\\.')}: error bad-plan: not JSON: `));
  });

  it('Ctrl-C saves a checkpoint, exits 130 and says how to resume; --resume finishes the run', async () => {
    const file = script('interrupted.tl', `use tiny input 32\ndata "${join(root, 'examples/data/fashion-mini/train')}" split 0.2\nfreeze none\nepochs 40\nbatch 16\n`);
    const runDir = join(dir, 'interrupted');
    const child = spawn(process.execPath, [join(root, 'bin/tl.js'), 'run', file, '--run-dir', runDir], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    // One Ctrl-C only: a second, sent on a later chunk, could land after `tl run` has let go of
    // SIGINT on its way out and kill the process by signal instead of letting it exit 130.
    let interrupted = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      if (!interrupted && stdout.includes('epoch  2/40')) interrupted = child.kill('SIGINT');
    });
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    expect({ code, signal }).toEqual({ code: 130, signal: null });
    expect(stdout).toContain(`checkpoint (cancel) saved to ${join(runDir, 'checkpoint')}`);
    expect(stderr).toMatch(/error cancelled: cancelled in phase 'warmup', epoch \d+, after saving a checkpoint to resume from/);
    expect(stderr).toContain(`resume with: tl run ${file} --run-dir ${runDir} --resume\n`);

    const resumed = tl(['run', file, '--run-dir', runDir, '--resume']);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).not.toContain('epoch  1/40');
    expect(resumed.stdout).toContain('epoch 40/40');
    expect(resumed.stdout).toContain('validation accuracy');
  }, 120_000);
});
