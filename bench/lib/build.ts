/**
 * The code the benchmark runs: a plain-JavaScript snapshot of `src/` (at the
 * git commit measured, or the working tree with --worktree) and of `bench/`,
 * transpiled file by file with TypeScript's `transpileModule` into
 * `node_modules/.cache/celeriac-bench/run-<pid>/` (ignored by git and eslint, and
 * inside the project so that packages resolve). Node processes then run
 * without the tsx loader, which adds
 * about 35 MB of RSS and a second of start-up to every process and would
 * otherwise dominate the memory figures of every Node system alike.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

/** The repository root. */
export const ROOT = join(import.meta.dirname, '..', '..');
/** Where snapshots and the lock live. */
export const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'celeriac-bench');

let buildDir = join(CACHE_DIR, `run-${process.pid}`);

/** The snapshot this process runs: its own directory, so that concurrent invocations do not replace each other's code. */
export function snapshotDir(): string {
  return buildDir;
}

/** Run an existing snapshot instead (--snapshot DIR). */
export function useSnapshot(dir: string): void {
  buildDir = dir;
}

/** What was built. */
export interface BuildInfo {
  /** The commit `src/` was taken from. */
  commit: string;
  /** True when `src/` came from the working tree (uncommitted changes included). */
  worktree: boolean;
  /** Files of `src/` with uncommitted changes at build time (informational). */
  dirtySrc: string[];
  /** Files of `bench/` with uncommitted changes at build time. */
  dirtyBench: string[];
  /** Subject line of the commit. */
  subject: string;
}

const OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  verbatimModuleSyntax: true,
  isolatedModules: true,
  sourceMap: false,
};

function git(args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

function walk(dir: string, skip: (rel: string) => boolean, base = dir): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    const rel = relative(base, full);
    if (skip(rel)) continue;
    if (statSync(full).isDirectory()) out.push(...walk(full, skip, base));
    else out.push(rel);
  }
  return out;
}

function emit(srcText: string, fileName: string, outFile: string): void {
  const out = ts.transpileModule(srcText, { compilerOptions: OPTIONS, fileName, reportDiagnostics: false });
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, out.outputText);
}

/** Node does not look for a package scope above node_modules: say ESM in `dir` (the CLI also reads its version there). */
function writePackageJson(dir: string): void {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: pkg.name, version: pkg.version, type: 'module', private: true })}\n`);
}

/**
 * Transpile `src/` as it is on disk into `outDir/src` (other files copied),
 * with a package.json saying ESM: `node outDir/src/cli/main.js` then runs
 * the CLI as an installed one runs, without a loader. `outDir` must be
 * inside the project (under node_modules/.cache) for packages to resolve.
 */
export function transpileSrc(outDir: string): void {
  writePackageJson(outDir);
  for (const rel of walk(join(ROOT, 'src'), () => false)) {
    const from = join(ROOT, 'src', rel);
    const to = join(outDir, 'src', rel);
    if (rel.endsWith('.ts')) emit(readFileSync(from, 'utf8'), from, to.replace(/\.ts$/, '.js'));
    else {
      mkdirSync(dirname(to), { recursive: true });
      cpSync(from, to);
    }
  }
}

/** Transpile `src/` (from HEAD, or the working tree) and `bench/` into this process's snapshot directory. */
export function build(options: { worktree: boolean }): BuildInfo {
  const BUILD_DIR = buildDir;
  rmSync(BUILD_DIR, { recursive: true, force: true });
  mkdirSync(BUILD_DIR, { recursive: true });
  writePackageJson(BUILD_DIR);
  const commit = git(['rev-parse', 'HEAD']).trim();
  const subject = git(['log', '-1', '--format=%s', commit]).trim();
  const status = git(['status', '--porcelain', '--', 'src', 'bench'])
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(3));
  const dirtySrc = status.filter((f) => f.startsWith('src/'));
  const dirtyBench = status.filter((f) => f.startsWith('bench/'));

  if (options.worktree) transpileSrc(BUILD_DIR);
  else {
    // The committed tree, whatever others are editing right now.
    const files = git(['ls-tree', '-r', '--name-only', commit, '--', 'src']).split('\n').filter(Boolean);
    for (const path of files) {
      const text = git(['show', `${commit}:${path}`]);
      const to = join(BUILD_DIR, path);
      if (path.endsWith('.ts')) emit(text, join(ROOT, path), to.replace(/\.ts$/, '.js'));
      else {
        mkdirSync(dirname(to), { recursive: true });
        writeFileSync(to, text);
      }
    }
  }

  const benchFiles = walk(join(ROOT, 'bench'), (rel) => rel.startsWith('profiles') || rel.startsWith('peers') || rel.endsWith('.md'));
  for (const rel of benchFiles) {
    if (!rel.endsWith('.ts')) continue;
    const from = join(ROOT, 'bench', rel);
    emit(readFileSync(from, 'utf8'), from, join(BUILD_DIR, 'bench', rel.replace(/\.ts$/, '.js')));
  }
  const info: BuildInfo = { commit, worktree: options.worktree, dirtySrc, dirtyBench, subject };
  writeFileSync(join(BUILD_DIR, 'build-info.json'), `${JSON.stringify(info, null, 1)}\n`);
  return info;
}

/** The BuildInfo of the snapshot in use (for --snapshot), or throws. */
export function snapshotInfo(): BuildInfo {
  try {
    return JSON.parse(readFileSync(join(buildDir, 'build-info.json'), 'utf8')) as BuildInfo;
  } catch (err) {
    throw new Error(`--snapshot: no snapshot in ${buildDir} (make one with --keep-snapshot)`, { cause: err });
  }
}

/** Remove this process's snapshot. */
export function removeSnapshot(): void {
  rmSync(buildDir, { recursive: true, force: true });
}
