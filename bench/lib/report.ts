/** bench/RESULTS.md: the tables, the targets, the configuration and the machine. */
import { existsSync, readFileSync } from 'node:fs';
import type { BuildInfo } from './build.js';
import type { Machine } from './machine.js';
import { SETTLE_FACTOR, SUBMISSIONS, WARM_UP, type Sample, type Sizes, type Workload } from './runner.js';
import { spread, type Spread } from './stats.js';
import { SYSTEMS, type Availability, type SystemName, type Transport, type WorkerConfig } from './systems.js';

/** How one system on one transport was run. */
export interface Plan {
  system: SystemName;
  transport: Transport;
  /** single: one configuration; grid: every configuration every run; calibrate: the best of a small calibration run. */
  selection: 'single' | 'grid' | 'calibrate';
  workloads: Workload[];
  configs: WorkerConfig[];
  /** The configuration reported for each workload. */
  choice: Partial<Record<Workload, string>>;
}

/** Everything the report is made from. */
export interface ReportData {
  quick: boolean;
  runs: number;
  sizes: Sizes;
  calSizes: Sizes;
  built: BuildInfo;
  machine: Machine;
  loadEnd: number[];
  startedAt: Date;
  seconds: number;
  availability: Record<SystemName, Availability>;
  only: string[];
  amqp: string | null;
  vhosts: string[];
  plans: Plan[];
  samples: Sample[];
  /** Config-runs run again because they were disturbed (Redis restarted, a step ran out of time). */
  retries: number;
  /** Why a system did not get its preferred database. */
  dbNotes: string[];
}

interface Metric {
  label: string;
  /** Column name in the per-run table. */
  short: string;
  w: Workload;
  get: (s: Sample) => number | undefined;
  higher: boolean;
  unit: 'rate' | 'ms' | 'mb' | 'us';
  /** A diagnostic row, not one of the issue's figures. */
  diagnostic?: boolean;
}

function metrics(z: Sizes): Metric[] {
  const n = z.w1.toLocaleString('en-US');
  return [
    { label: `W1 enqueue ${n}, no worker running (tasks/s)`, short: 'W1 enqueue/s', w: 'W1', get: (s) => s.w1?.enqueue, higher: true, unit: 'rate' },
    { label: `W1 drain of ${n} by one worker (tasks/s)`, short: 'W1 drain/s', w: 'W1', get: (s) => s.w1?.drain, higher: true, unit: 'rate' },
    { label: `W1 enqueue ${n} with the worker running (tasks/s)`, short: 'W1 live enqueue/s', w: 'W1', get: (s) => s.w1?.liveEnqueue, higher: true, unit: 'rate' },
    { label: `W1 completion with the worker running (tasks/s, first send → last result)`, short: 'W1 live completion/s', w: 'W1', get: (s) => s.w1?.liveDrain, higher: true, unit: 'rate' },
    { label: `W2 round trip p50, ${z.w2.toLocaleString('en-US')} sequential (ms)`, short: 'W2 p50 ms', w: 'W2', get: (s) => s.w2?.p50, higher: false, unit: 'ms' },
    { label: 'W2 round trip p99 (ms)', short: 'W2 p99 ms', w: 'W2', get: (s) => s.w2?.p99, higher: false, unit: 'ms' },
    { label: `W3 chord of ${z.w3.toLocaleString('en-US')} add + xsum: submit → result (ms)`, short: 'W3 ms', w: 'W3', get: (s) => s.w3?.ms, higher: false, unit: 'ms' },
    { label: `W4 chain of ${z.w4} add links: submit → result (ms)`, short: 'W4 ms', w: 'W4', get: (s) => s.w4?.ms, higher: false, unit: 'ms' },
    { label: 'W5 worker peak RSS during W1 (MB)', short: 'W5 worker MB', w: 'W1', get: (s) => s.w5?.workerMb, higher: false, unit: 'mb' },
    { label: 'W5 producer peak RSS during W1 (MB)', short: 'W5 producer MB', w: 'W1', get: (s) => s.w5?.clientMb, higher: false, unit: 'mb' },
    { label: '(diagnostic) W1 CPU per task: worker (µs, start-up included)', short: 'CPU/task worker µs', w: 'W1', get: (s) => s.cpu?.workerUs, higher: false, unit: 'us', diagnostic: true },
    { label: '(diagnostic) W1 CPU per task: producer (µs)', short: 'CPU/task producer µs', w: 'W1', get: (s) => s.cpu?.clientUs, higher: false, unit: 'us', diagnostic: true },
    { label: '(diagnostic) W1 CPU per task: redis-server (µs)', short: 'CPU/task redis µs', w: 'W1', get: (s) => s.cpu?.redisUs, higher: false, unit: 'us', diagnostic: true },
    { label: `(diagnostic) W2 cold: p50 of the first ${z.w2.toLocaleString('en-US')} round trips of the config-run (ms)`, short: 'W2 first p50 ms', w: 'W2', get: (s) => s.w2first?.p50, higher: false, unit: 'ms', diagnostic: true },
    { label: `(diagnostic) W2 settled: p50 of ${z.w2.toLocaleString('en-US')} round trips after ${(z.w2warmup * SETTLE_FACTOR).toLocaleString('en-US')} more (ms)`, short: 'W2 settled p50 ms', w: 'W2', get: (s) => s.w2settled?.p50, higher: false, unit: 'ms', diagnostic: true },
    { label: `(diagnostic) W2 settled: p99 of the same (ms)`, short: 'W2 settled p99 ms', w: 'W2', get: (s) => s.w2settled?.p99, higher: false, unit: 'ms', diagnostic: true },
    { label: `(diagnostic) W3 cold: the first chord of ${z.w3.toLocaleString('en-US')} of the config-run (ms)`, short: 'W3 first ms', w: 'W3', get: (s) => s.w3first?.ms, higher: false, unit: 'ms', diagnostic: true },
    { label: `(diagnostic) W4 cold: the first chain of ${z.w4} of the config-run (ms)`, short: 'W4 first ms', w: 'W4', get: (s) => s.w4first?.ms, higher: false, unit: 'ms', diagnostic: true },
  ];
}

function num(v: number, unit: Metric['unit']): string {
  if (!Number.isFinite(v)) return '–';
  if (unit === 'rate') return Math.round(v).toLocaleString('en-US');
  if (unit === 'mb') return v.toFixed(1);
  if (unit === 'us') return Math.round(v).toLocaleString('en-US');
  if (v >= 100) return Math.round(v).toLocaleString('en-US');
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function cell(s: Spread | null, unit: Metric['unit']): string {
  if (!s) return '–';
  if (s.n === 1) return num(s.median, unit);
  return `${num(s.median, unit)} (${num(s.min, unit)}–${num(s.max, unit)})`;
}

function ratio(a: Spread | null, b: Spread | null, higher: boolean): string {
  if (!a || !b || b.median === 0) return '–';
  const r = a.median / b.median;
  const f = r >= 1 ? r : 1 / r;
  const word = higher ? (r >= 1 ? 'higher' : 'lower') : r >= 1 ? 'higher' : 'lower';
  const good = higher ? r >= 1 : r <= 1;
  return `${r.toFixed(2)} (${f.toFixed(1)}× ${word}${good ? ', better' : ', worse'})`;
}

/** The samples of a plan's chosen configuration for a workload, full runs only. */
function chosen(d: ReportData, system: SystemName, transport: Transport, w: Workload): Sample[] {
  const p = d.plans.find((x) => x.system === system && x.transport === transport);
  if (!p) return [];
  const cfg = p.choice[w];
  return d.samples.filter((s) => s.system === system && s.transport === transport && s.run > 0 && s.config === cfg && !s.redisRestarted);
}

function value(d: ReportData, system: SystemName, transport: Transport, m: Metric): Spread | null {
  return spread(chosen(d, system, transport, m.w).map(m.get));
}

function absent(d: ReportData, system: SystemName, transport: Transport): string {
  const a = d.availability[system];
  if (!a.ok) return `**not installed**: ${a.reason}`;
  if (!d.only.includes(system)) return 'not run (left out with --only)';
  if (transport === 'amqp' && d.amqp) return `not run: ${d.amqp}`;
  return 'no result';
}

function mainTable(d: ReportData, transport: Transport, peers: SystemName[], ms: Metric[]): string[] {
  const present = (s: SystemName): boolean => d.plans.some((p) => p.system === s && p.transport === transport);
  const own = d.plans.find((x) => x.system === 'celeriac' && x.transport === transport);
  const ownBest = own !== undefined && own.selection !== 'single';
  const head = ['', ownBest ? 'celeriac (best config)' : 'celeriac', ...peers.map((p) => `${SYSTEMS[p].title} (best config)`), ...peers.map((p) => `celeriac ÷ ${SYSTEMS[p].title}`)];
  const out = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const m of ms) {
    const c = value(d, 'celeriac', transport, m);
    const row = [m.label, c && ownBest ? `${cell(c, m.unit)} · ${own.choice[m.w]}` : cell(c, m.unit)];
    const vs: Array<Spread | null> = [];
    for (const p of peers) {
      if (!present(p)) {
        row.push(absent(d, p, transport).startsWith('**not installed') ? 'not installed' : 'not run');
        vs.push(null);
        continue;
      }
      const v = value(d, p, transport, m);
      const plan = d.plans.find((x) => x.system === p && x.transport === transport);
      const cfg = plan?.choice[m.w];
      row.push(v ? `${cell(v, m.unit)} · ${cfg}` : '–');
      vs.push(v);
    }
    for (const v of vs) row.push(ratio(c, v, m.higher));
    out.push(`| ${row.join(' | ')} |`);
  }
  return out;
}

function med(d: ReportData, system: SystemName, transport: Transport, m: Metric): number | null {
  return value(d, system, transport, m)?.median ?? null;
}

/**
 * What the profiles show in the way of the missed targets: bench/IN-THE-WAY.md,
 * written by hand from bench/PROFILE.md and kept next to the harness (its
 * headings are shifted under this report's).
 */
function inTheWay(): string[] {
  const file = new URL('../IN-THE-WAY.md', import.meta.url);
  if (!existsSync(file)) return [];
  return [...readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => (l.startsWith('#') ? `#${l}` : l)), ''];
}

function targets(d: ReportData, ms: Metric[]): string[] {
  const [, drain, , , p50, p99, w3, w4, rss] = ms;
  const c = (m: Metric) => med(d, 'celeriac', 'redis', m);
  const b = (m: Metric) => (d.plans.some((p) => p.system === 'bullmq' && p.transport === 'redis') ? med(d, 'bullmq', 'redis', m) : null);
  const y = (m: Metric) => (d.plans.some((p) => p.system === 'celery' && p.transport === 'redis') ? med(d, 'celery', 'redis', m) : null);
  const rows: string[][] = [];
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const relTarget = (name: string, mine: number | null, peer: number | null, factor: number, peerName: SystemName) => {
    if (mine === null) return rows.push([name, 'celeriac has no result', '**not measured**']);
    if (peer === null) return rows.push([name, `celeriac ${num(mine, 'rate')}/s`, `cannot be judged: ${absent(d, peerName, 'redis')}`]);
    const need = peer * factor;
    const r = mine / peer;
    const ok = mine >= need;
    rows.push([
      name,
      `${num(mine, 'rate')}/s vs ${SYSTEMS[peerName].title} ${num(peer, 'rate')}/s = ${r.toFixed(2)}×`,
      ok ? `**met** (${pct(mine / need - 1)} above ${num(need, 'rate')}/s)` : `**missed** by ${num(need - mine, 'rate')}/s: needs ${num(need, 'rate')}/s, ${(need / mine).toFixed(2)}× the measured rate`,
    ]);
  };
  const absTarget = (name: string, mine: number | null, limit: number, unit: Metric['unit']) => {
    if (mine === null) return rows.push([name, 'celeriac has no result', '**not measured**']);
    const u = unit === 'mb' ? ' MB' : ' ms';
    const ok = mine <= limit;
    rows.push([name, `${num(mine, unit)}${u}`, ok ? `**met** (${pct(1 - mine / limit)} under)` : `**missed** by ${num(mine - limit, unit)}${u} (${(mine / limit).toFixed(2)}× the target)`]);
  };
  relTarget('W1 drain ≥ 2× BullMQ', c(drain), b(drain), 2, 'bullmq');
  relTarget('W1 drain ≥ 20× Celery', c(drain), y(drain), 20, 'celery');
  absTarget('W2 p50 ≤ 0.5 ms', c(p50), 0.5, 'ms');
  const mine99 = c(p99);
  const peer99 = b(p99);
  if (mine99 === null) rows.push(['W2 p99 below BullMQ’s', 'celeriac has no result', '**not measured**']);
  else if (peer99 === null) rows.push(['W2 p99 below BullMQ’s', `${num(mine99, 'ms')} ms`, `cannot be judged: ${absent(d, 'bullmq', 'redis')}`]);
  else
    rows.push([
      'W2 p99 below BullMQ’s',
      `${num(mine99, 'ms')} ms vs ${num(peer99, 'ms')} ms`,
      mine99 < peer99 ? `**met** (${pct(1 - mine99 / peer99)} below)` : `**missed** by ${num(mine99 - peer99, 'ms')} ms (${(mine99 / peer99).toFixed(2)}× BullMQ’s)`,
    ]);
  absTarget(`W3 chord of ${d.sizes.w3.toLocaleString('en-US')} ≤ 150 ms`, c(w3), 150, 'ms');
  absTarget(`W4 chain of ${d.sizes.w4} ≤ 40 ms`, c(w4), 40, 'ms');
  absTarget('W5 worker RSS ≤ 80 MB', c(rss), 80, 'mb');
  return ['| target (issue) | measured (medians) | status |', '|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

function references(d: ReportData, ms: Metric[]): string[] {
  const [, drain, , , p50, , w3, w4, rss] = ms;
  const seq = (s: SystemName) => spread(chosen(d, s, 'redis', 'W4').map((x) => x.w4seq?.ms))?.median ?? null;
  const f = (v: number | null, unit: Metric['unit'], suffix: string) => (v === null ? '–' : `${num(v, unit)}${suffix}`);
  const b = (m: Metric) => med(d, 'bullmq', 'redis', m);
  const y = (m: Metric) => med(d, 'celery', 'redis', m);
  const rows = [
    ['BullMQ drain, best concurrency', '~8,200/s', f(b(drain), 'rate', '/s')],
    ['BullMQ round trip p50', '1.2 ms', f(b(p50), 'ms', ' ms')],
    ['BullMQ 1,000-child flow', '~0.6 s', f(b(w3), 'ms', ' ms')],
    ['BullMQ 100-step sequence', '~0.16 s', `${f(b(w4), 'ms', ' ms')} (100-deep flow); ${f(seq('bullmq'), 'ms', ' ms')} (100 jobs one after another)`],
    ['BullMQ worker RSS', '104 MB', f(b(rss), 'mb', ' MB')],
    ['Celery drain', '~710/s', f(y(drain), 'rate', '/s')],
    ['Celery round trip p50', '2.3 ms', f(y(p50), 'ms', ' ms')],
    ['Celery chord of 1,000', '4.5 s', f(y(w3), 'ms', ' ms')],
    ['Celery chain of 100', '0.3 s', f(y(w4), 'ms', ' ms')],
  ];
  return ['| peer figure | in the issue (2 cores, Redis 7) | measured here |', '|---|---|---|', ...rows.map((r) => `| ${r.join(' | ')} |`)];
}

function detail(d: ReportData, ms: Metric[]): string[] {
  const out: string[] = [];
  const cols = ['system', 'broker', 'config', 'run', 'db', ...ms.map((m) => m.short), 'W4 seq ms', 's', 'machine CPU busy', 'errors'];
  out.push(`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`);
  for (const s of d.samples) {
    const row = [
      SYSTEMS[s.system].title,
      s.transport,
      s.config,
      `${s.run === 0 ? 'cal.' : String(s.run)}${s.redisRestarted ? ' (not used)' : ''}`,
      String(s.db),
      ...ms.map((m) => {
        const v = m.get(s);
        return v === undefined ? '' : num(v, m.unit);
      }),
      s.w4seq ? num(s.w4seq.ms, 'ms') : '',
      s.seconds.toFixed(0),
      Number.isFinite(s.machineBusy) ? `${(s.machineBusy * 100).toFixed(0)}%` : '',
      s.errors.map((e) => clip(e.split('\n')[0].replace(/\|/g, '/'))).join('; '),
    ];
    out.push(`| ${row.join(' | ')} |`);
  }
  return out;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function clip(text: string, max = 160): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** The Markdown text of the report. */
export function writeReport(d: ReportData): string {
  const ms = metrics(d.sizes);
  const m = d.machine;
  const L: string[] = [];
  const when = d.startedAt.toISOString().replace('T', ' ').slice(0, 16);
  L.push('# celeriac benchmark results', '');
  L.push(
    `Generated by \`npm run bench${d.quick ? ' -- --quick' : ''}\` on ${when} UTC in ${(d.seconds / 60).toFixed(1)} min. ` +
      `Measured: celeriac ${d.availability.celeriac.versions.celeriac} at commit \`${d.built.commit.slice(0, 12)}\` (${d.built.subject})` +
      (d.built.worktree ? `, from the working tree${d.built.dirtySrc.length ? ` with uncommitted changes in ${d.built.dirtySrc.join(', ')}` : ''}` : ', src/ exactly as committed') +
      `. Each figure is the median of ${d.runs} run${d.runs > 1 ? 's' : ''}${d.runs > 1 ? ' with the min–max range in parentheses' : ''}; ` +
      'a peer’s figure is from its best configuration for that workload (named after the dot). What is measured and how: [README.md](README.md).',
  );
  if (d.quick) L.push('', '> **Quick run** (`--quick`): one run at small sizes, for development only. The targets are defined for the full sizes.');
  L.push('');

  L.push('## Redis broker, Redis results', '');
  L.push(...mainTable(d, 'redis', ['bullmq', 'celery'], ms), '');
  L.push(
    'Ratios are celeriac ÷ peer on the medians: above 1 is better for rates, below 1 is better for times and memory. ' +
      'The diagnostic rows say where W1’s CPU went: per task, over both W1 batches (redis-server’s share includes anything else it served meanwhile). ' +
      'BullMQ W4 is a 100-deep flow (each job adds 1 to its only child’s value, so results pass from step to step as in a chain); ' +
      'the other reading, 100 jobs sent one after another by the producer, is in the references below and the per-run table.',
    '',
  );

  L.push('## Targets', '');
  L.push(...targets(d, ms), '');
  L.push('### The issue’s peer figures against this machine', '');
  L.push(...references(d, ms), '');
  L.push(...inTheWay());

  L.push('## RabbitMQ broker, Redis results (W1, W2)', '');
  if (d.plans.some((p) => p.transport === 'amqp')) {
    const amqpMs = ms.filter((x) => x.w === 'W1' || x.w === 'W2');
    L.push(...mainTable(d, 'amqp', ['celery'], amqpMs), '');
    L.push(`Each system had a vhost of its own (${d.vhosts.join(', ')}), created with rabbitmqctl and deleted afterwards. Celery’s pool was calibrated again on RabbitMQ (its threads pool stalls there: py-amqp delivers to it in bursts).`, '');
  } else L.push(`Not run: ${d.amqp ?? 'no system available'}.`, '');

  L.push('## Systems and versions', '');
  L.push('| system | versions | status |', '|---|---|---|');
  for (const name of ['celeriac', 'bullmq', 'celery'] as SystemName[]) {
    const a = d.availability[name];
    const v = Object.entries(a.versions)
      .map(([k, x]) => `${k} ${x}`)
      .join(', ');
    L.push(`| ${SYSTEMS[name].title} | ${v || '–'} | ${a.ok ? (d.only.includes(name) ? 'measured' : 'installed, left out with --only') : `**not installed**: ${a.reason}`} |`);
  }
  L.push('');

  L.push('## Configuration', '');
  L.push(
    `Sizes: W1 ${fmt(d.sizes.w1)} tasks (twice: enqueued then drained, and enqueued while the worker runs); W2 ${fmt(d.sizes.w2)} round trips after ${fmt(d.sizes.w2 + d.sizes.w2warmup)} unmeasured (the first ${fmt(d.sizes.w2)} of them are the cold figure among the diagnostics), then ${fmt(d.sizes.w2)} more after ${fmt(d.sizes.w2warmup * SETTLE_FACTOR)} unmeasured, the settled figure among the diagnostics; ` +
      `W3 a chord of ${fmt(d.sizes.w3)}; W4 a chain of ${fmt(d.sizes.w4)} (W3 and W4 each after an unmeasured one of 10 and then ${WARM_UP.W3} and ${WARM_UP.W4} unmeasured full-size ones, every system alike, and each the median of ${SUBMISSIONS} submissions per config-run; the first full-size one is the cold figure among the diagnostics). ` +
      `Calibration runs (for “best of” by calibration): W1 ${fmt(d.calSizes.w1)}, W2 ${fmt(d.calSizes.w2)}, W3 ${fmt(d.calSizes.w3)}, W4 ${fmt(d.calSizes.w4)}.`,
    '',
  );
  for (const p of d.plans) {
    const sys = SYSTEMS[p.system];
    const how =
      p.selection === 'single'
        ? 'one configuration'
        : p.selection === 'grid'
          ? `every configuration in every run; the best median per workload is reported`
          : 'each configuration once at calibration sizes; the best per workload then ran the full runs';
    const dbsUsed = [...new Set(d.samples.filter((s) => s.system === p.system && s.transport === p.transport).map((s) => s.db))].join(', ');
    L.push(`**${sys.title}, ${p.transport} broker** (${how}; Redis database ${dbsUsed}):`, '');
    for (const cfg of p.configs) {
      const wins = p.workloads.filter((w) => p.choice[w] === cfg.id);
      if (p.selection !== 'grid' && p.selection !== 'calibrate' && !wins.length) continue;
      L.push(`- \`${cfg.id}\` ${cfg.label}: \`${sys.workerCommand(cfg)}\`${wins.length ? ` — reported for ${wins.join(', ')}` : ''}`);
    }
    L.push(`- producer: \`${sys.clientCommand()}\``, '');
  }
  L.push(
    'Common to all: one worker process per run, started fresh for W1 (and a fresh producer), on 127.0.0.1:6379; each config-run its own Redis database (free: empty, no other client; preferred celeriac 13, BullMQ 14, Celery 0, else 15), flushed before and after; ' +
      'results kept by every system (celeriac and Celery store `celery-task-meta-<id>`, BullMQ keeps completed jobs and their return values). ' +
      'Node processes run a plain-JavaScript snapshot made with TypeScript’s transpileModule (no tsx loader). ' +
      'Node producers keep up to 1,000 single sends in flight during W1 (`noop.delay()`, `queue.add()`); the Celery producer sends one after another (its API is synchronous). ' +
      'Drain rate = (N − 1) ÷ (last finish − first finish), from the finish times each system stores (`date_done`, BullMQ’s finishedOn); ' +
      'completion with the worker running = N ÷ (last finish − first send). Peak RSS = VmHWM from /proc, summed over the worker’s processes (Celery prefork: the parent and its children).',
    '',
  );

  L.push('## Machine', '');
  L.push(
    `- ${m.nproc} CPUs (nproc), ${m.memoryGb.toFixed(1)} GB memory, ${m.cpuModel}, Linux ${m.kernel}`,
    `- Node ${m.node}, Redis ${m.redis}, Python ${m.python}, RabbitMQ ${m.rabbitmq}`,
    `- load average at start ${m.loadStart.map((x) => x.toFixed(2)).join(' / ')}, at end ${d.loadEnd.map((x) => x.toFixed(2)).join(' / ')} (other work on the machine shows here)`,
    ...(d.retries ? [`- ${d.retries} config-run(s) were disturbed (Redis restarted by something else, or a step ran out of time) and run again; the disturbed samples are listed below as “not used”`] : []),
    '',
  );

  L.push('## Redis commands per W1 task', '');
  L.push(
    'From `INFO commandstats` around W1 (both batches, so the producer’s and the worker’s commands; the whole server, so anyone else’s too), ' +
      'in the first full run of each system’s reported W1 configuration: calls per task and Redis CPU µs per task, by command.',
    '',
  );
  for (const p of d.plans) {
    const s = chosen(d, p.system, p.transport, 'W1').find((x) => x.redisCommands?.length);
    if (!s?.redisCommands) continue;
    const total = s.redisCommands.reduce((a, c) => a + c.us, 0);
    L.push(
      `- ${SYSTEMS[p.system].title}, ${p.transport} (${s.config}): ` +
        s.redisCommands.map((c) => `${c.cmd} ${c.calls.toFixed(2)}× ${c.us.toFixed(1)} µs`).join(', ') +
        ` — ${total.toFixed(1)} µs/task in the commands listed`,
    );
  }
  L.push('');
  if (d.dbNotes.length) L.push('Databases: ' + d.dbNotes.join('; ') + '.', '');
  L.push('## Every run', '');
  L.push(...detail(d, ms), '');
  const errs = d.samples.filter((s) => s.errors.length);
  if (errs.length) {
    L.push('## Errors', '');
    for (const s of errs) for (const e of s.errors) L.push(`- ${SYSTEMS[s.system].title}/${s.transport}/${s.config} run ${s.run || 'cal.'}: ${clip(e.split('\n').slice(0, 3).join(' ⏎ '), 400)}`);
    L.push('');
  }
  return `${L.join('\n')}\n`;
}
