// `omics-archiver local up` and `local demo` as a person runs them: a real process, its output, Ctrl-C, and bad input.
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { ListStateMachinesCommand } from '@aws-sdk/client-sfn';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as clients from '../../functions/lib/runtime/clients';
import { alive, portIsFree } from '../support/processes';

jest.setTimeout(60_000);

const REPO_ROOT = path.resolve(__dirname, '../..');
// What `npx tsx` runs; spawned directly so a signal reaches the CLI as a terminal's Ctrl-C would, not npm's wrapper.
const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const CLI = path.join(REPO_ROOT, 'bin', 'omics-archiver.ts');

interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: ChildProcess[] = [];

/** Runs the CLI in its own process group (as a shell runs a foreground job), collecting its output. */
function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Spawned {
  const child = spawn(TSX, [CLI, ...args], { cwd: REPO_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Runs the CLI to completion within a time bound. */
async function runToEnd(args: string[], env?: NodeJS.ProcessEnv, timeoutMs = 30_000) {
  const run = cli(args, env);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
  const { code } = await run.exited;
  clearTimeout(timer);
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

async function waitFor(check: () => boolean, what: string, spawned: Spawned, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (spawned.child.exitCode !== null)
      throw new Error(`the CLI exited (${spawned.child.exitCode}) before ${what}:\n${spawned.stdout()}\n${spawned.stderr()}`);
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs / 1000} s:\n${spawned.stdout()}\n${spawned.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Processes running moto_launcher.py that descend from `ancestor`. */
function motoProcessesUnder(ancestor: number): number[] {
  const parents = new Map<number, number>();
  const motos: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('moto_launcher.py')) motos.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  const descends = (pid: number): boolean => {
    for (let p = parents.get(pid); p !== undefined && p > 1; p = parents.get(p)) if (p === ancestor) return true;
    return false;
  };
  return motos.filter(descends);
}

async function listeningServer(): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return server;
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'local-up-test-'));

afterAll(() => {
  // A test that failed half way must not leave a local cloud behind: end each process group this file started.
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  fs.rmSync(scratch, { recursive: true, force: true });
});

describe('omics-archiver local up', () => {
  test('--port 0: prints the endpoint and resources, serves SDK clients, and stops everything on Ctrl-C', async () => {
    const up = cli(['local', 'up', '--port', '0']);
    await waitFor(() => up.stdout().includes('Press Ctrl-C'), '"Press Ctrl-C" on stdout', up, 45_000);

    const endpoint = /Local cloud listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(up.stdout());
    expect(endpoint).not.toBeNull();
    const port = Number(endpoint![2]);
    expect(port).toBeGreaterThan(0);
    const dataDir = /\(data in ([^)]+)\)/.exec(up.stdout())?.[1] ?? '';
    expect(fs.existsSync(dataDir)).toBe(true);
    expect(up.stdout()).toContain(`export AWS_ENDPOINT_URL=${endpoint![1]}`);

    // What the printed lines promise: any SDK pointed at the endpoint finds the resources.
    const settings = { endpoint: endpoint![1], region: 'us-east-1' };
    const buckets = await clients.s3Client(settings).send(new ListBucketsCommand({}));
    expect(buckets.Buckets?.map((b) => b.Name)).toEqual(expect.arrayContaining(['omics-archiver-snapshots', 'omics-archiver-archive']));
    const machines = await clients.sfnClient(settings).send(new ListStateMachinesCommand({}));
    expect(machines.stateMachines?.map((m) => m.name).sort()).toEqual(['omics-archiver-ArchiveRun', 'omics-archiver-RestoreRun']);
    for (const arn of machines.stateMachines?.map((m) => m.stateMachineArn) ?? []) expect(up.stdout()).toContain(arn);

    const motos = motoProcessesUnder(up.child.pid!);
    expect(motos).toHaveLength(1);

    // SIGINT to the CLI alone (not its process group, as a terminal's Ctrl-C would): moto must be stopped by the CLI.
    const interrupted = Date.now();
    up.child.kill('SIGINT');
    const { code, signal } = await up.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(Date.now() - interrupted).toBeLessThan(15_000);
    expect(up.stdout()).toContain('Stopping the local cloud');
    expect(up.stderr()).not.toMatch(/\n\s+at /);
    expect(motos.filter(alive)).toEqual([]);
    expect(await portIsFree(port)).toBe(true);
    expect(fs.existsSync(dataDir)).toBe(false);
  });

  test('--port of a port in use: exits non-zero with one line saying so, no stack trace', async () => {
    const taken = await listeningServer();
    try {
      const port = (taken.address() as net.AddressInfo).port;
      const result = await runToEnd(['local', 'up', '--port', String(port)]);
      expect(result.code).not.toBe(0);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`port ${port} is already in use`));
      expect(result.stdout).not.toContain('Press Ctrl-C');
    } finally {
      taken.close();
    }
  });

  test('without moto_server on PATH: a clear message naming moto_server and how to install it', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: path.dirname(process.execPath) };
    delete env.MOTO_PYTHON;
    const result = await runToEnd(['local', 'up', '--port', '0'], env);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('moto_server');
    expect(result.stderr).toMatch(/pip install 'moto\[server,stepfunctions\]/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).not.toContain('Press Ctrl-C');
  });
});

describe('omics-archiver local demo, bad input', () => {
  test('a policy file with an unknown key: the message names the key', async () => {
    const policy = path.join(scratch, 'typo-policy.json');
    fs.writeFileSync(policy, JSON.stringify({ tiers: [{ name: 'all', files: [{ globs: ['**'], action: 'archive' }] }], archiveConcurency: 3 }));
    const result = await runToEnd(['local', 'demo', '--policy', policy]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('archiveConcurency');
    expect(result.stderr).toContain(policy);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).not.toContain('Starting the local cloud');
  });

  test('--outputs of a folder that does not exist: a clear error before any local cloud is started', async () => {
    const result = await runToEnd(['local', 'demo', '--outputs', '/no/such/dir']);
    expect(result.code).not.toBe(0);
    expect(result.stderr.trim()).toBe('error: --outputs /no/such/dir: no such folder');
    expect(result.stdout).not.toContain('Starting the local cloud');
  });
});
