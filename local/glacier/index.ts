// The strict local Glacier: the real @aws-sdk/client-glacier talks to it over HTTP through the front door.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Ctx } from './context';
import { GlacierError, missingParameter, notFound, sendError } from './errors';
import { drain } from './http';
import { DEFAULT_JOB_DELAYS, JobRunner, type Publish } from './job-runner';
import { route } from './routes';
import { Store, type Tier } from './store';

export interface GlacierEmulatorOptions {
  /** Archive and part bytes live on disk here, never whole archives in memory. */
  dataDir: string;
  /** Defaults 123456789012 / us-east-1, used in ARNs and Location headers. */
  accountId?: string;
  region?: string;
  /** Time from InitiateJob until the job completes, per retrieval tier (inventory jobs: `inventory`). */
  jobDelayMs?: Partial<Record<Tier | 'inventory', number>>;
  /** SNS publish, for job completion notifications. */
  publish: Publish;
  now?: () => Date;
  /**
   * false: the account is one Glacier no longer serves (vaults closed to new customers since 15 December 2025): every
   * request is refused with NoLongerSupportedException, as AWS answers such an account.
   */
  vaultAccess?: boolean;
}

/** Glacier keeps a finished job's output at least this long, and may remove an upload idle this long. */
export const JOB_OUTPUT_LIFETIME_MS = 24 * 60 * 60 * 1000;
export const IDLE_UPLOAD_LIFETIME_MS = 24 * 60 * 60 * 1000;

export class GlacierEmulator {
  private readonly ctx: Ctx;
  private readonly runner: JobRunner;
  /** Test control: how far the emulator's clock runs ahead of the real one (advanceClock). */
  private clockOffsetMs = 0;
  private vaultAccess: boolean;

  constructor(options: GlacierEmulatorOptions) {
    this.vaultAccess = options.vaultAccess ?? true;
    const clock = options.now ?? (() => new Date());
    const accountId = options.accountId ?? '123456789012';
    const region = options.region ?? 'us-east-1';
    this.runner = new JobRunner({ ...DEFAULT_JOB_DELAYS, ...options.jobDelayMs }, options.publish);
    this.ctx = {
      store: new Store(options.dataDir),
      accountId,
      region,
      now: () => new Date(clock().getTime() + this.clockOffsetMs),
      vaultArn: (vaultName) => `arn:aws:glacier:${region}:${accountId}:vaults/${vaultName}`,
      location: (vaultName, ...rest) => ['', accountId, 'vaults', vaultName, ...rest].map(encodeURIComponent).join('/'),
      jobs: this.runner,
    };
    this.runner.attach(this.ctx);
  }

  /** Serves one request; its body has not been read yet and is streamed, never buffered whole. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomBytes(24).toString('base64url');
    res.setHeader('x-amzn-requestid', requestId);
    try {
      const url = new URL(req.url ?? '/', 'http://glacier.local');
      const segments = url.pathname
        .split('/')
        .filter((s) => s !== '')
        .map(decodeURIComponent);
      const [accountId, ...rest] = segments;
      if (accountId !== '-' && accountId !== this.ctx.accountId) {
        throw new GlacierError('AccessDeniedException', `Access denied for account ${accountId ?? ''}`);
      }
      if (!this.vaultAccess) {
        throw new GlacierError(
          'NoLongerSupportedException',
          'This API is no longer supported for new accounts. Please use Amazon S3 Glacier storage classes instead.',
        );
      }
      if (!req.headers['x-amz-glacier-version']) throw missingParameter('Required header or parameter x-amz-glacier-version is missing');
      await this.expireStale();
      const found = route(req.method ?? 'GET', rest);
      if (!found) throw notFound(`The local Glacier emulator does not implement ${req.method} ${url.pathname}`);
      await found.handler(this.ctx, { req, res, vaultName: found.vaultName, ids: found.ids, query: url.searchParams });
    } catch (caught) {
      drain(req);
      const error =
        caught instanceof GlacierError
          ? caught
          : new GlacierError('ServiceUnavailableException', `Internal error in the local Glacier emulator: ${String(caught)}`);
      if (!(caught instanceof GlacierError)) console.error('glacier emulator:', caught);
      sendError(res, error, requestId);
    }
  }

  /**
   * What Glacier forgets with time, by the emulator's clock: a finished job's output after JOB_OUTPUT_LIFETIME_MS
   * (DescribeJob and GetJobOutput then answer ResourceNotFoundException), an upload idle for IDLE_UPLOAD_LIFETIME_MS.
   */
  private async expireStale(): Promise<void> {
    const now = this.ctx.now().getTime();
    const { state } = this.ctx.store;
    let changed = false;
    for (const job of Object.values(state.jobs)) {
      if (job.completionDate !== null && Date.parse(job.completionDate) + JOB_OUTPUT_LIFETIME_MS < now) {
        delete state.jobs[job.id];
        changed = true;
        if (job.outputFile) {
          await this.ctx.store.removeFile(this.ctx.store.path('jobs', job.outputFile));
          await this.ctx.store.removeFile(this.ctx.store.path('jobs', `${job.outputFile}.leaves`));
        }
      }
    }
    for (const upload of Object.values(state.uploads)) {
      if (Date.parse(upload.lastActivity ?? upload.creationDate) + IDLE_UPLOAD_LIFETIME_MS < now) {
        delete state.uploads[upload.id];
        changed = true;
        await rm(this.ctx.store.path('uploads', upload.dir), { recursive: true, force: true });
      }
    }
    if (changed) this.ctx.store.save();
  }

  /** Test control: moves the emulator's clock forward (job output and idle uploads expire by it). */
  advanceClock(ms: number): void {
    this.clockOffsetMs += ms;
  }

  /** Test control: whether the account may use vaults at all (false: NoLongerSupportedException for everything). */
  setVaultAccess(allowed: boolean): void {
    this.vaultAccess = allowed;
  }

  /** Test control: the next `count` archive retrievals to complete end Failed, with this status message. */
  failRetrievals(count: number, message = 'The job failed: the archive could not be retrieved'): void {
    this.runner.retrievalFailures = { count, message };
  }

  /** Stops the job timers; state stays on disk under dataDir. */
  close(): Promise<void> {
    this.runner.close();
    return Promise.resolve();
  }

  /** Test control: GetJobOutput flips the byte at this offset of the job's output (its tree hash header stays true). */
  corruptJobOutput(jobId: string, byteOffset: number): void {
    this.job(jobId).corruptOffsets.push(byteOffset);
    this.ctx.store.save();
  }

  /** Test control: the job completes but never publishes its notification. */
  suppressNotification(jobId: string): void {
    this.job(jobId).suppressNotification = true;
    this.ctx.store.save();
  }

  /** Test control: the next `count` Expedited archive retrievals fail with InsufficientCapacityException. */
  refuseExpedited(count: number): void {
    this.runner.expeditedRefusals = count;
  }

  /** Test control: jobs that complete while paused never publish their notification (lost notifications). */
  pauseNotifications(paused = true): void {
    this.runner.notificationsPaused = paused;
  }

  /** Test inspection: the archives a vault holds (what an inventory would list), with their descriptions. */
  archivesIn(vaultName: string): { archiveId: string; description: string; size: number }[] {
    return Object.values(this.ctx.store.state.archives)
      .filter((a) => a.vault === vaultName)
      .map((a) => ({ archiveId: a.id, description: a.description, size: a.size }));
  }

  /** Test inspection: the multipart uploads still open in a vault (ListMultipartUploads would list them). */
  openUploads(vaultName: string): string[] {
    return Object.values(this.ctx.store.state.uploads)
      .filter((u) => u.vault === vaultName)
      .map((u) => u.id);
  }

  /** Test control: completes the job at once and publishes its notifications. */
  completeJobNow(jobId: string): Promise<void> {
    this.job(jobId);
    return this.runner.complete(jobId);
  }

  private job(jobId: string) {
    const job = this.ctx.store.state.jobs[jobId];
    if (!job) throw new Error(`No Glacier job ${jobId}`);
    return job;
  }
}
