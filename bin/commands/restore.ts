// `omics-archiver restore`: starts the restore workflow for a run's archived files and, with --wait, follows it file by file.
import cliProgress from 'cli-progress';
import { InvalidArgumentError } from 'commander';
import { ExecutionAlreadyExists, StartExecutionCommand, StateMachineDoesNotExist, type DescribeExecutionCommandOutput } from '@aws-sdk/client-sfn';
import * as clients from '../../functions/lib/runtime/clients';
import { resolveRun } from '../../functions/lib/restore/plan-restore';
import { RunIndex, type RestoreFileRecord, type RestoreRequestRecord } from '../../functions/lib/index/run-index';
import { RESTORE_TIERS, type RestoreTier } from '../../functions/lib/contract';
import { checkRunRef, formatBytes, processIO, table, type CommandIO } from './display';
import { failureOf, followExecution, history } from './executions';
import { ResourceResolver, type ResolverDeps, type ResourceFlags } from './resources';

/** What the restore state machine takes (statemachines/restore-run.asl.json); absent fields take the index's and the tier's. */
export interface RestoreExecutionInput {
  /** Run id (its newest uuid) or uuid. */
  run: string;
  /** Globs over paths relative to the run's output folder; absent: every archived file. */
  files?: string[];
  /** Retrieval tier; absent: the run's tier policy's `restoreTier`. */
  tier?: RestoreTier;
  /** `s3://bucket/prefix/`; absent: each file's original location. */
  destination?: string;
}

/** `--tier`: Expedited, Standard or Bulk, in any case. */
export function parseRestoreTier(value: string): RestoreTier {
  const tier = RESTORE_TIERS.find((t) => t.toLowerCase() === value.toLowerCase());
  if (!tier) throw new InvalidArgumentError(`must be one of ${RESTORE_TIERS.join(', ')}`);
  return tier;
}

/** S3 bucket naming rules (general purpose buckets): 3-63 lowercase letters, digits, dots and hyphens. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `--to`: an `s3://bucket/` or `s3://bucket/prefix/` destination; the prefix is a folder, so it ends in `/`. */
export function parseDestination(value: string): string {
  const match = /^s3:\/\/([^/]+)(\/.*)?$/.exec(value);
  if (!match || !BUCKET.test(match[1]) || match[1].includes('..')) {
    throw new InvalidArgumentError(
      'must be an S3 location such as s3://my-bucket/restores/ (bucket names are 3-63 lowercase letters, digits, dots and hyphens)',
    );
  }
  return value.endsWith('/') ? value : `${value}/`;
}

/**
 * `--name`: the execution name, which is also the restore's id in the index and rides in Glacier job descriptions
 * (ASCII only). Step Functions takes up to 80 characters; only letters, digits, - and _ keep its CloudWatch logging working.
 */
export function parseExecutionName(value: string): string {
  if (!/^[A-Za-z0-9_-]{1,80}$/.test(value)) throw new InvalidArgumentError('must be 1-80 letters, digits, - or _');
  return value;
}

/** `restore-<uuid or id>-<UTC time to the millisecond>`, e.g. restore-1234567-20250131T120000123Z. */
export function restoreExecutionName(ref: string, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.(\d{3})Z$/, '$1Z');
  return `restore-${ref}-${stamp}`;
}

/** The Step Functions console page of an execution, in the execution's own Region. */
export function consoleUrl(executionArn: string): string {
  const [, partition, , region] = executionArn.split(':');
  const host = partition === 'aws-cn' ? `${region}.console.amazonaws.cn` : `${region}.console.aws.amazon.com`;
  return `https://${host}/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

export interface RestoreOptions extends ResourceFlags {
  files?: string[];
  tier?: string;
  to?: string;
  name?: string;
  wait?: boolean;
  json?: boolean;
  /** With --wait: give up following after this many seconds (the restore itself goes on). */
  timeout?: number;
  /** With --wait: seconds between looks at the execution and the index (default by tier, see POLL_MS). */
  poll?: number;
  now?: Date;
}

export interface RestoreFileProgress {
  path: string;
  state: string;
  bytesDone: number;
  /** The archived file's size, from the index. */
  size?: number;
  destination: string;
  failureReason?: string;
}

export interface RestoreResult {
  executionName: string;
  executionArn: string;
  consoleUrl: string;
  input: RestoreExecutionInput;
  /** Present with --wait. */
  status?: string;
  failure?: { state?: string; error?: string; cause?: string };
  request?: RestoreRequestRecord;
  files?: RestoreFileProgress[];
  /** With --wait: how long it followed the execution. */
  waitedSeconds?: number;
  /** False when the execution or any file failed: the CLI then exits non-zero. */
  ok: boolean;
}

/** Validates everything an operator typed, before any AWS call, and builds the execution's input and name. */
export function restoreRequest(ref: string, options: RestoreOptions): { input: RestoreExecutionInput; name: string } {
  checkRunRef(ref);
  const files = options.files?.map((g) => g.trim());
  if (files?.some((g) => g === '')) throw new Error('--files: a glob must not be empty');
  const input: RestoreExecutionInput = {
    run: ref,
    ...(files?.length ? { files } : {}),
    ...(options.tier !== undefined ? { tier: parseRestoreTier(options.tier) } : {}),
    ...(options.to !== undefined ? { destination: parseDestination(options.to) } : {}),
  };
  const name = options.name !== undefined ? parseExecutionName(options.name) : restoreExecutionName(ref, options.now);
  return { input, name };
}

/** "45 s", "12m 05s", "3h 07m": how long --wait has been waiting. */
export function formatWaited(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`;
}

/**
 * Shows restore progress. In a terminal: an overall bar on stderr (files done of all, bytes, the time waited, the state
 * the execution is in) and one bar per file for up to 20 files. Elsewhere (a pipe, a log): a line per state entered and
 * per file state change. Nothing for --json.
 */
class ProgressView {
  private readonly bars?: cliProgress.MultiBar;
  private readonly fileBars = new Map<string, cliProgress.SingleBar>();
  private overall?: cliProgress.SingleBar;
  private readonly lastState = new Map<string, string>();
  private files: RestoreFileProgress[] = [];
  private executionState = 'starting';
  private readonly startedAt = Date.now();

  constructor(
    private readonly io: CommandIO,
    private readonly quiet: boolean,
  ) {
    if (!quiet && io.interactive) {
      this.bars = new cliProgress.MultiBar(
        {
          // Bars go to stderr (or the IO's progress stream): stdout keeps the start lines and the final table.
          stream: io.progress ?? process.stderr,
          format: ' {bar} {percentage}% | {done} / {size} | {what}',
          barsize: 20,
          hideCursor: true,
          clearOnComplete: false,
          autopadding: true,
          linewrap: false,
        },
        cliProgress.Presets.shades_classic,
      );
    }
  }

  /** The execution entered a state. */
  state(name: string): void {
    if (this.quiet) return;
    this.executionState = name;
    // Lines logged above live bars can be lost when the bars stop; the overall bar carries the state instead.
    if (this.bars) this.render();
    else this.io.out(`→ ${name}`);
  }

  update(files: RestoreFileProgress[]): void {
    if (this.quiet) return;
    this.files = files;
    if (this.bars) {
      this.render();
      return;
    }
    if (this.lastState.size === 0 && files.length) {
      // Every file starts REQUESTED at once; one line says so, and each file's later changes get their own.
      this.io.out(`  ${files.length} file${files.length === 1 ? '' : 's'} to restore, ${formatBytes(files.reduce((s, f) => s + (f.size ?? 0), 0))}`);
      for (const f of files) if (f.state === 'REQUESTED') this.lastState.set(f.path, f.state);
    }
    for (const f of files) {
      if (this.lastState.get(f.path) === f.state) continue;
      this.lastState.set(f.path, f.state);
      this.io.out(`  ${f.state.padEnd(10)} ${f.path}${f.failureReason ? `: ${f.failureReason}` : ''}`);
    }
  }

  private render(): void {
    if (!this.bars) return;
    const files = this.files;
    const finished = files.filter((f) => f.state === 'RESTORED' || f.state === 'FAILED').length;
    const bytesOf = (f: RestoreFileProgress) => (f.state === 'RESTORED' ? (f.size ?? f.bytesDone) : f.bytesDone);
    const done = files.reduce((s, f) => s + bytesOf(f), 0);
    const size = files.reduce((s, f) => s + (f.size ?? 0), 0);
    const what = `${finished}/${files.length} files | waited ${formatWaited(this.waitedMs)} | ${this.executionState}`;
    this.overall ??= this.bars.create(1, 0, { done: '', size: '', what: '' });
    this.overall.setTotal(Math.max(files.length, 1));
    this.overall.update(finished, { done: formatBytes(done), size: formatBytes(size), what });
    // One bar per file reads well for a handful of files; beyond that the overall bar says enough.
    if (files.length > 20) return;
    for (const f of files) {
      const total = Math.max(f.size ?? f.bytesDone, 1);
      let bar = this.fileBars.get(f.path);
      if (!bar) {
        bar = this.bars.create(total, 0, {});
        this.fileBars.set(f.path, bar);
      }
      const value = f.state === 'RESTORED' ? total : Math.min(f.bytesDone, total);
      bar.update(value, {
        done: formatBytes(bytesOf(f)),
        size: formatBytes(f.size),
        what: `${f.state} | ${f.path}${f.failureReason ? `: ${f.failureReason}` : ''}`,
      });
    }
  }

  get waitedMs(): number {
    return Date.now() - this.startedAt;
  }

  stop(): void {
    if (this.bars) {
      this.render();
      this.bars.stop();
    }
  }
}

/** Reads the index's items for one restore: its request and its per-file records (none until the workflow plans it). */
async function readRestore(index: RunIndex, runUuid: string, restoreId: string, sizes: Map<string, number>) {
  const { requests, files } = await index.listRestores(runUuid);
  const request = requests.find((r) => r.restoreId === restoreId);
  const mine = files.filter((f) => f.restoreId === restoreId);
  if (mine.length && sizes.size === 0) for (const f of await index.listFiles(runUuid)) sizes.set(f.path, f.size);
  return {
    request,
    files: mine
      .map((f: RestoreFileRecord): RestoreFileProgress => ({
        path: f.path,
        state: f.state,
        bytesDone: f.bytesDone ?? 0,
        size: sizes.get(f.path),
        destination: f.destination,
        ...(f.failureReason ? { failureReason: f.failureReason } : {}),
      }))
      .sort((a, b) => a.path.localeCompare(b.path)),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A Lambda task's failure cause is its error as JSON, stack trace included; the operator needs the message. */
export function causeText(cause: string | undefined): string {
  if (!cause) return 'no cause given';
  try {
    const parsed = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof parsed.errorMessage === 'string') return parsed.errorMessage;
  } catch {
    // a plain-text cause, as a Fail state gives
  }
  return cause;
}

/** How often --wait polls, by retrieval tier: minutes-long retrievals closely, hours-long ones gently. */
const POLL_MS: Record<RestoreTier | 'policy', number> = { Expedited: 2_000, Standard: 10_000, Bulk: 20_000, policy: 5_000 };

/** `restore`: starts the restore execution; with `wait`, follows it to the end and reports every file. */
export async function restoreCommand(ref: string, options: RestoreOptions, io: CommandIO = processIO, deps: ResolverDeps = {}): Promise<RestoreResult> {
  const { input, name } = restoreRequest(ref, options);
  const resolver = new ResourceResolver(options, deps);
  const stateMachineArn = await resolver.get('restoreStateMachine');

  // Following needs the index. Resolve the run as the workflow will (the same function), so an unknown or ambiguous
  // run fails here, before an execution is started.
  let index: RunIndex | undefined;
  let runUuid = '';
  if (options.wait) {
    index = new RunIndex(clients.documentClient(), await resolver.get('table'));
    runUuid = (await resolveRun(index, ref)).runUuid;
  }

  const sfn = clients.sfnClient();
  let executionArn: string;
  try {
    const started = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
    executionArn = started.executionArn ?? '';
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists || (error as Error).name === 'ExecutionAlreadyExists') {
      throw new Error(`an execution named ${name} already exists on ${stateMachineArn}; choose another --name`, { cause: error });
    }
    if (error instanceof StateMachineDoesNotExist || (error as Error).name === 'StateMachineDoesNotExist') {
      throw new Error(
        `the restore state machine ${stateMachineArn} does not exist (check --restore-state-machine, OMICS_ARCHIVER_RESTORE_STATE_MACHINE or --stack-name)`,
        { cause: error },
      );
    }
    throw error;
  }
  const result: RestoreResult = { executionName: name, executionArn, consoleUrl: consoleUrl(executionArn), input, ok: true };
  if (!options.json) {
    io.out(`Started restore ${name} of run ${ref}${input.files ? ` (files ${input.files.join(' ')})` : ' (every archived file)'}`);
    io.out(`  tier:        ${input.tier ?? "the run's tier policy's restoreTier"}`);
    io.out(`  destination: ${input.destination ?? "each file's original location"}`);
    io.out(`  execution:   ${executionArn}`);
    io.out(`  console:     ${result.consoleUrl}`);
  }
  if (!options.wait || !index) {
    if (options.json) io.out(JSON.stringify(result, null, 2));
    return result;
  }

  const pollMs = options.poll !== undefined ? options.poll * 1000 : POLL_MS[input.tier ?? 'policy'];
  const view = new ProgressView(io, Boolean(options.json));
  const sizes = new Map<string, number>();
  let latest: Awaited<ReturnType<typeof readRestore>> | undefined;
  const poll = async () => {
    latest = await readRestore(index, runUuid, name, sizes);
    view.update(latest.files);
  };
  let following = true;
  const poller = (async () => {
    while (following) {
      // A failed read is retried on the next poll; the final read below reports errors.
      await poll().catch(() => undefined);
      await sleep(pollMs);
    }
  })();
  let described: DescribeExecutionCommandOutput | undefined;
  let lost: Error | undefined;
  try {
    described = await followExecution(sfn, executionArn, {
      timeoutMs: (options.timeout ?? 86_400) * 1000,
      pollMs,
      onState: (state) => view.state(state),
    });
  } catch (error) {
    lost = error as Error;
  }
  following = false;
  await poller;
  try {
    if (described) await poll();
  } finally {
    // The bars' redraw timer would keep the process alive.
    view.stop();
  }
  if (!described) {
    throw new Error(
      `${lost?.message ?? 'the execution could not be followed'}; the restore goes on: see \`omics-archiver runs show ${ref}\` or ${result.consoleUrl}`,
    );
  }

  const failure = failureOf(await history(sfn, executionArn));
  const files = latest?.files ?? [];
  result.status = described.status;
  result.waitedSeconds = Math.round(view.waitedMs / 1000);
  result.request = latest?.request;
  result.files = files;
  if (failure) result.failure = { ...failure, cause: causeText(failure.cause) };
  const failedFiles = files.filter((f) => f.state === 'FAILED');
  result.ok = described.status === 'SUCCEEDED' && failedFiles.length === 0 && latest?.request?.state !== 'FAILED';

  if (options.json) {
    io.out(JSON.stringify(result, null, 2));
  } else {
    if (files.length) {
      io.out(
        table(
          ['path', 'state', 'bytes', 'destination', 'failure'],
          files.map((f) => [
            f.path,
            f.state,
            `${formatBytes(f.state === 'RESTORED' ? (f.size ?? f.bytesDone) : f.bytesDone)} / ${formatBytes(f.size)}`,
            f.destination,
            f.failureReason ?? '-',
          ]),
        ),
      );
    }
    const restored = files.filter((f) => f.state === 'RESTORED').length;
    io.out(`Restore ${name}: execution ${described.status}; ${restored} of ${files.length} files restored, ${failedFiles.length} failed.`);
    io.out(`Waited ${formatWaited(view.waitedMs)}.`);
  }
  if (!result.ok) {
    if (failure) io.err(`error: the restore failed in "${failure.state ?? '?'}": ${failure.error ?? 'error'}: ${causeText(failure.cause)}`);
    else if (described.status !== 'SUCCEEDED') io.err(`error: the restore execution ended ${described.status}`);
    for (const f of failedFiles) io.err(`error: ${f.path}: ${f.failureReason ?? 'failed'}`);
  }
  return result;
}
