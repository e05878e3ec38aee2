/**
 * `npm run bench:gpu`: builds what a GPU machine without Node.js needs to run the GPU benchmark
 * (the recipe of ../shared/gpu/README.md) into .gpu/ and .gl/ (both git-ignored locally through
 * .git/info/exclude): Node itself xz-compressed, bench.ts as one ESM bundle with the Dawn addon and
 * the MobileNetV2 topology beside it, the PyTorch references, run.sh, and Debian's libvulkan1.
 * Then prints the device command. `--local` also runs the bundle from a scratch directory on the
 * software adapter, at small sizes, to check that it is self-contained.
 */
import { execFileSync, execSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const gpu = join(root, '.gpu');
const gl = join(root, '.gl');
const app = join(gpu, 'app');
const nm = join(root, 'node_modules');

function copy(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
}

function ignoreLocally(): void {
  const exclude = join(root, '.git', 'info', 'exclude');
  const text = existsSync(exclude) ? readFileSync(exclude, 'utf8') : '';
  for (const line of ['/.gpu/', '/.gl/']) {
    if (!text.split('\n').includes(line)) appendFileSync(exclude, `${text.endsWith('\n') || text === '' ? '' : '\n'}${line}\n`);
  }
}

function packNode(): void {
  const stamp = join(gpu, 'node.version');
  if (existsSync(join(gpu, 'node.xz')) && existsSync(stamp) && readFileSync(stamp, 'utf8') === process.version) return;
  console.log(`compressing node ${process.version} (about a minute)`);
  execSync(`xz -T2 -6 -c "${process.execPath}" > "${join(gpu, 'node.xz')}"`);
  writeFileSync(stamp, process.version);
}

function bundle(): void {
  rmSync(app, { recursive: true, force: true });
  execFileSync(join(nm, '.bin', 'esbuild'), [
    join(root, 'bench', 'gpu', 'bench.ts'), '--bundle', '--platform=node', '--format=esm', '--external:webgpu', '--log-level=error',
    // Class names as written: tf.time names each program by its class, and the report by that.
    '--keep-names',
    `--outfile=${join(app, 'bench.mjs')}`, `--metafile=${join(app, 'meta.json')}`,
    "--banner:js=import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);",
  ], { stdio: 'inherit' });
  refuseNativeModules(join(app, 'meta.json'));
  // The Dawn addon: the package's entry and the linux-x64 binary only (21 MB).
  for (const f of ['package.json', 'index.js', join('dist', 'linux-x64', 'dawn.node')]) copy(join(nm, 'webgpu', f), join(app, 'node_modules', 'webgpu', f));
  // The zoo reads MobileNetV2's topology from nsfwjs at run time; its weights are not needed here.
  const ns = join(nm, 'nsfwjs');
  for (const f of ['package.json', join('dist', 'cjs', 'package.json'), join('dist', 'models', 'package.json'), join('dist', 'models', 'mobilenet_v2', 'model.min.js')]) {
    copy(join(ns, f), join(app, 'node_modules', 'nsfwjs', f));
  }
  writeFileSync(join(app, 'node_modules', 'nsfwjs', 'dist', 'cjs', 'index.js'), '// placeholder: only resolved, never loaded\nmodule.exports = {};\n');
  execFileSync('tar', ['-C', app, '-cJf', join(gpu, 'app.tar.xz'), '.']);
}

/**
 * The bundle carries only Dawn's addon: a native module it pulls in (sharp, better-sqlite3; an
 * import of a module index that also exports the data loaders is enough) would fail on the GPU
 * machine after its start-up was paid for. Fails here instead, naming who imports it.
 */
function refuseNativeModules(metafile: string): void {
  const { inputs } = JSON.parse(readFileSync(metafile, 'utf8')) as { inputs: Record<string, { imports: { path: string }[] }> };
  rmSync(metafile);
  const native = /node_modules\/(sharp|better-sqlite3|@img)\//;
  const importers = Object.entries(inputs).filter(([from, i]) => !native.test(from) && i.imports.some((m) => native.test(m.path))).map(([from]) => from);
  if (importers.length > 0) throw new Error(`the GPU bundle would load a native module the machine cannot: imported by ${importers.join(', ')}; have the benchmark import the module it needs directly (data/pixels.ts, not the data index)`);
}

function vulkanLoader(): void {
  mkdirSync(gl, { recursive: true });
  if (readdirSync(gl).some((f) => f.startsWith('libvulkan1') && f.endsWith('.deb')) && existsSync(join(gl, 'extra', 'libglvnd0_1.6.0-1_amd64.deb'))) return;
  const o = ['-oAPT::Architecture=amd64', '-oAPT::Architectures=amd64', '-oDir::State::Lists=/tmp/amd64'];
  mkdirSync('/tmp/amd64/partial', { recursive: true });
  try {
    execFileSync('apt-get', [...o, 'update'], { stdio: 'ignore' });
    execFileSync('apt-get', [...o, 'download', 'libvulkan1'], { cwd: gl, stdio: 'inherit' });
    // glvnd and the X libraries NVIDIA's libGLX_nvidia (its Vulkan driver) and EGL may want: run.sh
    // puts them on LD_LIBRARY_PATH only where the driver does not come up without them.
    mkdirSync(join(gl, 'extra'), { recursive: true });
    execFileSync('apt-get', [...o, 'download', 'libglvnd0', 'libglx0', 'libegl1', 'libgl1', 'libopengl0', 'libgles2', 'libx11-6', 'libx11-data', 'libxext6', 'libxcb1', 'libxau6', 'libxdmcp6', 'libbsd0', 'libmd0'], { cwd: join(gl, 'extra'), stdio: 'inherit' });
  } catch (err) {
    console.warn(`could not download libvulkan1 (${(err as Error).message}); the GPU run needs it in .gl/`);
  }
}

function sizeOf(path: string): number {
  const s = statSync(path);
  return s.isDirectory() ? readdirSync(path).reduce((a, f) => a + sizeOf(join(path, f)), 0) : s.size;
}

function localCheck(): void {
  const dir = '/tmp/tl-bench-local';
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-C', dir, '-xJf', join(gpu, 'app.tar.xz')]);
  console.log(`running the bundle from ${dir} on the software adapter, small sizes`);
  execFileSync(process.execPath, ['bench.mjs', '--out', join(dir, 'bench-gpu.md')], {
    cwd: dir,
    stdio: 'inherit',
    env: { ...process.env, BENCH_SOFTWARE: '1', BENCH_SMALL: '1' },
  });
}

mkdirSync(gpu, { recursive: true });
ignoreLocally();
packNode();
bundle();
for (const f of ['run.sh', 'probe.mjs', 'torch-reference.py', 'torch-reference-mobilenetv2.py']) copy(join(root, 'bench', 'gpu', f), join(gpu, f));
vulkanLoader();
rmSync(app, { recursive: true, force: true });
const mb = (sizeOf(gpu) + sizeOf(gl)) / 2 ** 20;
console.log(`\n.gpu and .gl: ${mb.toFixed(1)} MiB (the device tool carries at most 64 MiB)`);
console.log('On the GPU machine (device tool `run`, from the repository root):');
console.log('  command: bash .gpu/run.sh    carry: [".gpu", ".gl"]    timeout_s: 600');
console.log('  results: $OUT/bench-gpu.md (the tables), bench-log.txt, torch-*.txt, machine.txt, diag.txt, host-*.cpuprofile');
if (process.argv.includes('--local')) localCheck();
