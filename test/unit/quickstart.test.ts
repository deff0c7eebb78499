/** The README's first command: the quick start runs a real workflow on memory:// and exits 0. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);

it('examples/quickstart.ts prints the results and the result graph, and exits 0', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/quickstart.ts'], { timeout: 60_000 });
  expect(stdout).toMatch(/chain\(add\(4, 4\), mul\(8\), mul\(10\)\)\s+= 640/);
  expect(stdout).toContain('[0,2,4,6,8,10,12,14,16,18]');
  expect(stdout).toMatch(/xsum\)\s+= 9900/);
  expect(stdout).toContain('10 chunks, last [180,182,184,186,188,190,192,194,196,198]');
  expect(stdout).toContain('failed with RangeError: no price for missing');
  expect(stdout).toMatch(/digraph dependencies \{[\s\S]*->[\s\S]*\}/);
}, 60_000);
