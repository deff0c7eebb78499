/**
 * `npm run bench -- --profile`: celeriac's worker and producer under
 * `node --cpu-prof` during W1, W2 and W3 (each workload with fresh
 * processes), then the top self-time functions of every profile, written to
 * bench/profiles/SUMMARY.md (git-ignored, with the profiles) and
 * bench/PROFILE.md.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, type BuildInfo } from './build.js';
import { redisUrl } from './redis.js';
import { runConfig, type Sizes, type Workload } from './runner.js';
import { celeriac } from './systems.js';

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function and per area of one profile. */
export interface ProfileSummary {
  file: string;
  totalMs: number;
  idleMs: number;
  gcMs: number;
  programMs: number;
  functions: Array<{ name: string; where: string; ms: number }>;
  areas: Array<{ area: string; ms: number }>;
}

const BUILD_PREFIX = /^file:\/\/.*?\/node_modules\/\.cache\/celeriac-bench\/[^/]+\//;

function where(url: string, line: number): string {
  if (!url) return '';
  let u = url.replace(BUILD_PREFIX, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) u = u.slice(nm + '/node_modules/'.length);
  return `${u}:${line + 1}`;
}

function area(url: string, name: string): string {
  if (name === '(garbage collector)' || name === '(program)' || name === '(idle)') return name;
  if (!url) return '(native / V8 builtins)';
  const u = url.replace(BUILD_PREFIX, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = u.slice(nm + '/node_modules/'.length).split('/');
    return `npm: ${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (u.startsWith('node:')) return `node: ${u.slice(5).split('/').slice(0, 2).join('/')}`;
  return u;
}

/** Summarise a .cpuprofile file. */
export function summarise(path: string): ProfileSummary {
  const p = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  const fns = new Map<string, { name: string; where: string; ms: number }>();
  const areas = new Map<string, number>();
  let total = 0;
  let idle = 0;
  let gc = 0;
  let program = 0;
  for (const [id, ms] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const name = functionName || '(anonymous)';
    total += ms;
    if (name === '(idle)') idle += ms;
    if (name === '(garbage collector)') gc += ms;
    if (name === '(program)') program += ms;
    const key = `${name}@${url}:${lineNumber}`;
    const f = fns.get(key) ?? { name, where: where(url, lineNumber), ms: 0 };
    f.ms += ms;
    fns.set(key, f);
    const a = area(url, name);
    areas.set(a, (areas.get(a) ?? 0) + ms);
  }
  return {
    file: path,
    totalMs: total,
    idleMs: idle,
    gcMs: gc,
    programMs: program,
    functions: [...fns.values()].filter((f) => f.name !== '(idle)').sort((a, b) => b.ms - a.ms),
    areas: [...areas.entries()].filter(([a]) => a !== '(idle)').map(([a, ms]) => ({ area: a, ms })).sort((a, b) => b.ms - a.ms),
  };
}

/** Markdown for some summaries. */
export function summaryMarkdown(list: ProfileSummary[], top = 25): string {
  const L: string[] = [];
  for (const s of list) {
    const busy = s.totalMs - s.idleMs;
    const pc = (ms: number) => `${((ms / busy) * 100).toFixed(1)}%`;
    L.push(`### ${s.file.split('/').pop()}`, '');
    L.push(`Profiled ${(s.totalMs / 1000).toFixed(2)} s, busy ${(busy / 1000).toFixed(2)} s (${((busy / s.totalMs) * 100).toFixed(0)}%), of which GC ${pc(s.gcMs)}, (program) ${pc(s.programMs)}.`, '');
    L.push('| self ms | % busy | function | where |', '|---:|---:|---|---|');
    for (const f of s.functions.slice(0, top)) L.push(`| ${f.ms.toFixed(0)} | ${pc(f.ms)} | \`${f.name}\` | ${f.where} |`);
    L.push('', '| self ms | % busy | area |', '|---:|---:|---|');
    for (const a of s.areas.slice(0, 15)) L.push(`| ${a.ms.toFixed(0)} | ${pc(a.ms)} | ${a.area} |`);
    L.push('');
  }
  return L.join('\n');
}

/** Profile celeriac during W1, W2 and W3. */
export async function profile(o: { db: number; sizes: Sizes; built: BuildInfo; log: (line: string) => void }): Promise<void> {
  const dir = join(ROOT, 'bench', 'profiles');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const ep = { db: o.db, brokerUrl: redisUrl(o.db), backendUrl: redisUrl(o.db) };
  const notes: string[] = [];
  for (const w of ['W1', 'W2', 'W3'] as Workload[]) {
    o.log(`profiling ${w} ...`);
    // W2 at 300 round trips: enough samples for a profile, and bounded even with the slow tail of get().
    const sizes = { ...o.sizes, w2: Math.min(o.sizes.w2, 300), w2warmup: 20 };
    const s = await runConfig(celeriac, 'redis', celeriac.configs[0], new Set([w]), sizes, ep, 1, { dir, tag: w.toLowerCase() });
    const line = JSON.stringify({ w1: s.w1, w2: s.w2, w3: s.w3, w5: s.w5 });
    notes.push(`- ${w}: ${line}${s.errors.length ? ` — errors: ${s.errors.join('; ')}` : ''}`);
    o.log(`  ${line}${s.errors.length ? ` ERRORS ${s.errors.join('; ')}` : ''}`);
  }
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort();
  const text = [
    '# celeriac CPU profiles',
    '',
    `\`npm run bench -- --profile\` at commit \`${o.built.commit.slice(0, 12)}\` (${o.built.subject})${o.built.worktree ? ', working tree' : ''}: ` +
      'celeriac’s worker (`celeriac worker`, -c 10) and producer under `node --cpu-prof`, fresh processes for each workload, on Redis. ' +
      'Self time per function (the JavaScript is the transpiled snapshot, so line numbers are those of the transpiled files; names and files are the source’s). ' +
      'Profiling slows the processes down; the figures under profile are not benchmark results.',
    '',
    'Figures measured under the profiler:',
    '',
    ...notes,
    '',
    summaryMarkdown(files.map((f) => summarise(join(dir, f)))),
  ].join('\n');
  writeFileSync(join(dir, 'SUMMARY.md'), text);
  writeFileSync(join(ROOT, 'bench', 'PROFILE.md'), text);
  o.log(`wrote ${files.length} profile(s) to ${dir} and the summary to bench/PROFILE.md`);
}
