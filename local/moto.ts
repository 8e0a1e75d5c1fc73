// Starts and stops moto_server (through local/moto_launcher.py) for the local cloud.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

const LAUNCHER = path.join(__dirname, 'moto_launcher.py');

export class MotoMissingError extends Error {
  constructor(detail: string) {
    super(
      `moto_server is required for the local cloud but ${detail}.\n` +
        `Install it with: pip install 'moto[server,stepfunctions]>=5.2' (it must be importable by the python3 that runs moto_server).`,
    );
    this.name = 'MotoMissingError';
  }
}

/** The Python that runs moto_server: MOTO_PYTHON, else the interpreter that would run `moto_server`, else python3. */
export function findMotoPython(): string {
  if (process.env.MOTO_PYTHON) return process.env.MOTO_PYTHON;
  const which = spawnSync('sh', ['-c', 'command -v moto_server'], { encoding: 'utf8' });
  if (which.status !== 0 || !which.stdout.trim()) throw new MotoMissingError('`moto_server` is not on PATH');
  const script = which.stdout.trim();
  // A pip-installed moto_server starts with a shebang naming its interpreter; pyenv shims do not, so fall back to python3.
  const firstLine = fs.readFileSync(script, 'utf8').split('\n', 1)[0];
  const shebang = firstLine.startsWith('#!') ? firstLine.slice(2).trim() : '';
  const python = /^\/\S*python[0-9.]*$/.test(shebang) ? shebang : 'python3';
  const check = spawnSync(python, ['-c', 'import moto.server, moto.stepfunctions.parser'], { encoding: 'utf8' });
  if (check.status !== 0) throw new MotoMissingError(`${python} cannot import moto (${(check.stderr || check.error?.message || '').trim().split('\n').pop()})`);
  return python;
}

/** S3 Glacier retrieval tiers, as RestoreObject names them. */
export type S3RestoreTier = 'Expedited' | 'Standard' | 'Bulk';

export interface MotoServer {
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

async function isUp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/moto-api/data.json', timeout: 500 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.once('error', () => resolve(false));
    req.once('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}

/**
 * Starts moto_server on `port`, with MOTO_PORT set to the front door's port so the Step Functions interpreter's
 * Lambda and service-integration calls come back through the front door.
 */
export async function startMoto(options: {
  port: number;
  frontDoorPort: number;
  logFile?: string;
  timeoutMs?: number;
  /** How long an S3 RestoreObject takes per retrieval tier (local/moto_s3_restore.py; its defaults where absent). */
  s3RestoreDelayMs?: Partial<Record<S3RestoreTier, number>>;
}): Promise<MotoServer> {
  const python = findMotoPython();
  const log = options.logFile ? fs.openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(python, [LAUNCHER, '--host', '127.0.0.1', '--port', String(options.port)], {
    env: {
      ...process.env,
      MOTO_PORT: String(options.frontDoorPort),
      PYTHONUNBUFFERED: '1',
      ...(options.s3RestoreDelayMs && { LOCAL_CLOUD_S3_RESTORE_DELAYS_MS: JSON.stringify(options.s3RestoreDelayMs) }),
    },
    stdio: ['ignore', log, log],
  });
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}`));
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  while (!(await isUp(options.port))) {
    if (exited) throw new Error(`moto_server ${exited} during start-up${options.logFile ? `; see ${options.logFile}` : ''}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not answer on port ${options.port} within ${(options.timeoutMs ?? 30_000) / 1000} s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port: options.port,
    process: child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    },
  };
}
