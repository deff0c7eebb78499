/**
 * `npm run bench`: celeriac, BullMQ and Python Celery side by side on the
 * same Redis (and RabbitMQ for celeriac and Celery), written to
 * bench/RESULTS.md. See bench/README.md for what is measured and how.
 *
 *   npm run bench                    3 runs, full sizes (about 15 minutes)
 *   npm run bench -- --quick         1 run, small sizes, bench/results-quick.md
 *   npm run bench -- --profile       CPU profiles of celeriac's worker and producer (W1, W2, W3)
 *
 * Other options: --runs N, --only celeriac,bullmq,celery, --no-amqp,
 * --worktree (measure src/ as it is on disk, not at HEAD), --keep-snapshot (keep the
 * transpiled snapshot and print where), --snapshot DIR (run a kept snapshot as it
 * is, e.g. patched by hand to try a change), --bullmq grid|calibrate,
 * --w1 N --w2 N --w3 N --w4 N (sizes), --out FILE, --from-json FILE (write the
 * report again from the data a run saved, without running anything).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { build, CACHE_DIR, removeSnapshot, ROOT, snapshotDir, snapshotInfo, useSnapshot } from './lib/build.js';
import { acquireLock, releaseLock } from './lib/lock.js';
import { amqpUnavailable, machine, Vhost } from './lib/machine.js';
import { profile } from './lib/profile.js';
import { chooseDb, connect, redisUrl, waitForRedis } from './lib/redis.js';
import { writeReport, type Plan, type ReportData } from './lib/report.js';
import { bestConfig, live, runConfig, type Sample, type Sizes, type Workload } from './lib/runner.js';
import { availability, SYSTEMS, type Availability, type Endpoint, type SystemName, type Transport, type WorkerConfig } from './lib/systems.js';

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    runs: { type: 'string' },
    only: { type: 'string' },
    'no-amqp': { type: 'boolean', default: false },
    worktree: { type: 'boolean', default: false },
    'keep-snapshot': { type: 'boolean', default: false },
    snapshot: { type: 'string' },
    bullmq: { type: 'string' },
    w1: { type: 'string' },
    w2: { type: 'string' },
    w3: { type: 'string' },
    w4: { type: 'string' },
    out: { type: 'string' },
    'from-json': { type: 'string' },
  },
});

const FULL: Sizes = { w1: 20_000, w2: 1000, w2warmup: 1000, w3: 1000, w4: 100 };
const QUICK: Sizes = { w1: 2000, w2: 200, w2warmup: 200, w3: 200, w4: 100 };
const CALIBRATE_FULL: Sizes = { w1: 2000, w2: 200, w2warmup: 200, w3: 200, w4: 100 };
const CALIBRATE_QUICK: Sizes = { w1: 500, w2: 50, w2warmup: 50, w3: 50, w4: 20 };
/**
 * Preferred databases, and where to go when one is taken by someone else:
 * 15 and 0 are the ones no test of this repository uses (the tests use 1–14
 * and flush theirs). Each config-run picks a free one just before it starts.
 */
const PREFERRED_DB: Record<SystemName, number> = { celeriac: 13, bullmq: 14, celery: 0 };
const FALLBACK_DBS = [15, 0, 13, 14];
const ALL: Workload[] = ['W1', 'W2', 'W3', 'W4'];

const log = (line: string): void => void process.stderr.write(`${line}\n`);

function sizesFrom(base: Sizes): Sizes {
  const s = { ...base };
  if (opt.w1) s.w1 = Number(opt.w1);
  if (opt.w2) s.w2 = Number(opt.w2);
  if (opt.w3) s.w3 = Number(opt.w3);
  if (opt.w4) s.w4 = Number(opt.w4);
  return s;
}

function summary(s: Sample): string {
  const parts: string[] = [];
  if (s.w1) parts.push(`W1 enq ${s.w1.enqueue.toFixed(0)}/s drain ${s.w1.drain.toFixed(0)}/s live ${s.w1.liveEnqueue.toFixed(0)}/${s.w1.liveDrain.toFixed(0)}/s`);
  if (s.w5) parts.push(`RSS w ${s.w5.workerMb.toFixed(0)} MB c ${s.w5.clientMb.toFixed(0)} MB`);
  if (s.cpu) parts.push(`CPU/task w ${s.cpu.workerUs.toFixed(0)} c ${s.cpu.clientUs.toFixed(0)} redis ${s.cpu.redisUs.toFixed(0)} µs`);
  if (s.w2) parts.push(`W2 p50 ${s.w2.p50.toFixed(2)} p99 ${s.w2.p99.toFixed(2)} ms`);
  if (s.w3) parts.push(`W3 ${s.w3.ms.toFixed(0)} ms`);
  if (s.w4) parts.push(`W4 ${s.w4.ms.toFixed(1)} ms`);
  if (s.w4seq) parts.push(`W4seq ${s.w4seq.ms.toFixed(1)} ms`);
  if (s.errors.length) parts.push(`ERRORS: ${s.errors.map((e) => e.split('\n')[0]).join(' | ')}`);
  return parts.join(', ');
}

/** --from-json: the report again from a saved run. */
function reportFromJson(file: string): void {
  const data = JSON.parse(readFileSync(file, 'utf8')) as ReportData;
  data.startedAt = new Date(data.startedAt);
  const out = opt.out ?? join(ROOT, 'bench', data.quick ? 'results-quick.md' : 'RESULTS.md');
  writeFileSync(out, writeReport(data));
  log(`wrote ${out} from ${file}`);
}

async function main(): Promise<void> {
  if (opt['from-json']) return reportFromJson(opt['from-json']);
  const t0 = performance.now();
  const quick = opt.quick === true;
  const runs = Number(opt.runs ?? (quick ? 1 : 3));
  const sizes = sizesFrom(quick ? QUICK : FULL);
  const calSizes = quick ? CALIBRATE_QUICK : CALIBRATE_FULL;
  const only = new Set((opt.only ?? 'celeriac,bullmq,celery').split(',').map((s) => s.trim()) as SystemName[]);

  await acquireLock(30 * 60_000, log);
  process.once('exit', () => {
    // Also when something throws before the cleanup below is reached.
    if (!opt.snapshot && !opt['keep-snapshot']) removeSnapshot();
    releaseLock();
  });
  let built;
  if (opt.snapshot) {
    useSnapshot(opt.snapshot);
    built = snapshotInfo();
    log(`running the snapshot in ${opt.snapshot} as it is (--snapshot)`);
  } else {
    log(`building a snapshot of src/ (${opt.worktree ? 'working tree' : 'HEAD'}) and bench/ into ${snapshotDir()} ...`);
    built = build({ worktree: opt.worktree === true });
  }
  log(`measuring ${built.commit.slice(0, 12)} ${built.subject}${built.worktree && built.dirtySrc.length ? ` + uncommitted changes (${built.dirtySrc.length} file(s))` : ''}`);

  const admin = connect(0);
  const taken = new Set<number>();
  const vhosts: Vhost[] = [];
  const cleanup = async (): Promise<void> => {
    await Promise.allSettled([...live].map((l) => l.stop()));
    for (const v of vhosts.splice(0)) v.delete();
    if (!opt.snapshot && !opt['keep-snapshot']) removeSnapshot();
    else if (opt['keep-snapshot']) log(`snapshot kept in ${snapshotDir()} (run it again with --snapshot ${snapshotDir()})`);
    releaseLock();
  };
  process.once('SIGINT', () => {
    log('interrupted: stopping workers and producers, deleting the vhosts');
    void cleanup().finally(() => process.exit(130));
  });

  try {
    if (opt.profile) {
      const { db, note } = await chooseDb(admin, PREFERRED_DB.celeriac, taken, FALLBACK_DBS);
      if (note) log(note);
      await profile({ db, sizes, built, log });
      return;
    }

    const mach = await machine(admin);
    const avail = {} as Record<SystemName, Availability>;
    for (const name of ['celeriac', 'bullmq', 'celery'] as SystemName[]) {
      avail[name] = availability(name);
      if (!avail[name].ok) log(`${name}: NOT INSTALLED: ${avail[name].reason}`);
    }
    const dbNotes = new Set<string>();
    const amqpWhyNot = opt['no-amqp'] ? 'skipped with --no-amqp' : await amqpUnavailable();
    if (amqpWhyNot) log(`AMQP runs: not run: ${amqpWhyNot}`);

    const endpoint = async (name: SystemName, transport: Transport): Promise<Endpoint> => {
      const { db, note } = await chooseDb(admin, PREFERRED_DB[name], taken, FALLBACK_DBS);
      if (note && !dbNotes.has(`${name}: ${note}`)) {
        dbNotes.add(`${name}: ${note}`);
        log(`  ${name}: ${note}`);
      }
      if (transport === 'redis') return { db, brokerUrl: redisUrl(db), backendUrl: redisUrl(db) };
      const v = vhosts.find((x) => x.name.includes(`-${name}-`));
      if (!v) throw new Error(`no vhost for ${name}`);
      return { db, brokerUrl: v.url(), backendUrl: redisUrl(db) };
    };

    const plans: Plan[] = [];
    const add = (name: SystemName, transport: Transport, selection: Plan['selection'], workloads: Workload[]): void => {
      if (!only.has(name) || !avail[name].ok) return;
      if (transport === 'amqp' && amqpWhyNot) return;
      plans.push({ system: name, transport, selection, workloads, configs: SYSTEMS[name].configs, choice: {} });
    };
    add('celeriac', 'redis', opt.bullmq === 'calibrate' || quick ? 'calibrate' : 'grid', ALL);
    add('bullmq', 'redis', opt.bullmq === 'grid' || opt.bullmq === 'calibrate' ? opt.bullmq : quick ? 'calibrate' : 'grid', ALL);
    add('celery', 'redis', 'calibrate', ALL);
    add('celeriac', 'amqp', 'single', ['W1', 'W2']);
    add('celery', 'amqp', 'calibrate', ['W1', 'W2']);

    if (plans.some((p) => p.transport === 'amqp')) {
      for (const name of new Set(plans.filter((p) => p.transport === 'amqp').map((p) => p.system))) {
        vhosts.push(Vhost.create(`celeriac-bench-${name}-${process.pid}`));
      }
    }

    const samples: Sample[] = [];
    let retries = 0;
    const record = (s: Sample): void => {
      samples.push(s);
      log(`  ${s.system}/${s.transport}/${s.config} run ${s.run || 'cal'} (${s.seconds.toFixed(0)} s): ${summary(s)}`);
    };
    const once = async (p: Plan, cfg: WorkerConfig, wl: Workload[], sz: Sizes, run: number): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        const s = await runConfig(SYSTEMS[p.system], p.transport, cfg, new Set(wl), sz, await endpoint(p.system, p.transport), run);
        record(s);
        // A full run disturbed from outside (Redis restarted, or a step ran out of time, e.g. because someone
        // flushed the database) runs once more; in calibration a stall is a result.
        const disturbed = s.redisRestarted || (run > 0 && s.errors.some((e) => /ran out of time|not finished after|within \d+ ms/.test(e)));
        if (!disturbed || attempt === 2) return;
        if (s.redisRestarted) {
          log('  Redis restarted during that config-run (someone else restarted it?): waiting for it, then running it again');
          if (!(await waitForRedis(60_000))) throw new Error('Redis did not come back within 60 s');
        } else {
          s.redisRestarted = true; // not used: the retry replaces it
          s.errors.unshift('a step ran out of time; run again, this sample is not used');
          log('  a step ran out of time: running that config-run again');
        }
        retries++;
      }
    };

    // Calibration: each configuration once at small sizes; the best per workload runs in full.
    for (const p of plans.filter((x) => x.selection === 'calibrate')) {
      log(`calibrating ${p.system}/${p.transport}: ${p.configs.map((c) => c.id).join(', ')}`);
      for (const cfg of p.configs) await once(p, cfg, p.workloads, calSizes, 0);
      const cal = samples.filter((s) => s.system === p.system && s.transport === p.transport && s.run === 0);
      for (const w of p.workloads) p.choice[w] = bestConfig(cal, w) ?? p.configs[0].id;
      log(`  chosen: ${p.workloads.map((w) => `${w} ${p.choice[w]}`).join(', ')}`);
    }

    for (let run = 1; run <= runs; run++) {
      log(`run ${run} of ${runs}`);
      for (const p of plans) {
        if (p.selection === 'single') await once(p, p.configs[0], p.workloads, sizes, run);
        else if (p.selection === 'grid') for (const cfg of p.configs) await once(p, cfg, p.workloads, sizes, run);
        else {
          // One config-run per chosen configuration, with the workloads it won.
          const byCfg = new Map<string, Workload[]>();
          for (const w of p.workloads) byCfg.set(p.choice[w] as string, [...(byCfg.get(p.choice[w] as string) ?? []), w]);
          for (const [id, wl] of byCfg) await once(p, p.configs.find((c) => c.id === id) as WorkerConfig, wl, sizes, run);
        }
      }
    }
    for (const p of plans.filter((x) => x.selection === 'grid')) {
      const mine = samples.filter((s) => s.system === p.system && s.transport === p.transport && s.run > 0);
      for (const w of p.workloads) p.choice[w] = bestConfig(mine, w) ?? p.configs[0].id;
    }
    for (const p of plans.filter((x) => x.selection === 'single')) for (const w of p.workloads) p.choice[w] = p.configs[0].id;

    const data: ReportData = {
      quick,
      runs,
      sizes,
      calSizes,
      built,
      machine: mach,
      loadEnd: loadavg(),
      startedAt: new Date(Date.now() - (performance.now() - t0)),
      seconds: (performance.now() - t0) / 1000,
      availability: avail,
      only: [...only],
      amqp: amqpWhyNot,
      vhosts: vhosts.map((v) => v.name),
      plans,
      samples,
      retries,
      dbNotes: [...dbNotes],
    };
    const out = opt.out ?? join(ROOT, 'bench', quick ? 'results-quick.md' : 'RESULTS.md');
    writeFileSync(out, writeReport(data));
    mkdirSync(CACHE_DIR, { recursive: true });
    writeFileSync(join(CACHE_DIR, quick ? 'results-quick.json' : 'results.json'), JSON.stringify(data, null, 1));
    log(`wrote ${out} (${((performance.now() - t0) / 60000).toFixed(1)} min; data in ${join(CACHE_DIR, quick ? 'results-quick.json' : 'results.json')})`);
  } finally {
    await cleanup();
    admin.disconnect();
  }
}

await main();
process.exit(0);
