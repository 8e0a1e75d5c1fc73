// Job timing and completion: each job finishes after its tier's delay, then announces itself through SNS.
import { writeFile } from 'node:fs/promises';
import type { Ctx, JobScheduler } from './context';
import { describeJob } from './jobs';
import { newFileName, type JobRecord, type Tier } from './store';

export type JobDelays = Record<Tier | 'inventory', number>;

/** Local defaults: quick enough for a demo, ordered like AWS's tiers (minutes, hours, up to half a day). */
export const DEFAULT_JOB_DELAYS: JobDelays = { Expedited: 1000, Standard: 5000, Bulk: 10000, inventory: 5000 };

export type Publish = (topicArn: string, message: string, subject?: string) => Promise<void>;

export class JobRunner implements JobScheduler {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly completions = new Map<string, Promise<void>>();
  private ctx!: Ctx;
  /** Test control: while set, jobs complete without publishing, as when a notification is lost. */
  notificationsPaused = false;
  /** Test control: how many more Expedited archive retrievals InitiateJob refuses for want of capacity. */
  expeditedRefusals = 0;
  /** Test control: how many more archive retrievals end Failed when they complete, and with what message. */
  retrievalFailures = { count: 0, message: '' };

  constructor(
    private readonly delays: JobDelays,
    private readonly publish: Publish,
  ) {}

  attach(ctx: Ctx): void {
    this.ctx = ctx;
    for (const job of Object.values(ctx.store.state.jobs)) if (job.statusCode === 'InProgress') this.schedule(job);
  }

  refuseExpedited(): boolean {
    if (this.expeditedRefusals <= 0) return false;
    this.expeditedRefusals -= 1;
    return true;
  }

  delayMs(kind: Tier | 'inventory'): number {
    return this.delays[kind];
  }

  schedule(job: JobRecord): void {
    // setTimeout fires at once for delays past 2^31 - 1 ms (about 24.8 days), so long waits go in steps.
    const wait = Math.min(Math.max(0, job.dueAt - Date.now()), 2 ** 31 - 1);
    const timer = setTimeout(() => (Date.now() < job.dueAt ? this.schedule(job) : void this.complete(job.id)), wait);
    timer.unref();
    this.timers.set(job.id, timer);
  }

  /** Completes a job now (idempotent); resolves once its notifications have been published. */
  complete(jobId: string): Promise<void> {
    let completion = this.completions.get(jobId);
    if (!completion) {
      completion = this.finish(jobId);
      this.completions.set(jobId, completion);
    }
    return completion;
  }

  close(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
  }

  private async finish(jobId: string): Promise<void> {
    clearTimeout(this.timers.get(jobId));
    this.timers.delete(jobId);
    const { store } = this.ctx;
    const job = store.state.jobs[jobId];
    if (!job || job.statusCode !== 'InProgress') return;
    const now = this.ctx.now().toISOString();
    if (job.action === 'InventoryRetrieval') await this.writeInventory(job, now);
    if (job.action === 'ArchiveRetrieval' && job.rangeStart === 0 && job.rangeEnd === job.archiveSize) {
      job.rangeTreeHash = job.archiveTreeHash;
    }
    job.statusCode = 'Succeeded';
    job.statusMessage = 'Succeeded';
    if (job.action === 'ArchiveRetrieval' && this.retrievalFailures.count > 0) {
      // A failed job announces itself as a finished one does, with StatusCode Failed, and has no output.
      this.retrievalFailures.count -= 1;
      job.statusCode = 'Failed';
      job.statusMessage = this.retrievalFailures.message;
    }
    job.completionDate = now;
    store.save();
    if (!job.suppressNotification && !this.notificationsPaused) await this.notify(job);
  }

  /** AWS sends the job's own SNSTopic and the vault's configured topic (when it lists the event) each a message. */
  private async notify(job: JobRecord): Promise<void> {
    const topics: string[] = [];
    if (job.snsTopic) topics.push(job.snsTopic);
    const config = this.ctx.store.state.vaults[job.vault]?.notification;
    const event = job.action === 'ArchiveRetrieval' ? 'ArchiveRetrievalCompleted' : 'InventoryRetrievalCompleted';
    if (config?.Events.includes(event)) topics.push(config.SNSTopic);
    const message = JSON.stringify(describeJob(this.ctx, job));
    for (const topic of topics) {
      try {
        await this.publish(topic, message);
      } catch (error) {
        // AWS does not retry or report a notification the topic refuses; the job is complete regardless.
        console.warn(`glacier emulator: publishing job ${job.id} completion to ${topic} failed: ${String(error)}`);
      }
    }
  }

  private async writeInventory(job: JobRecord, now: string): Promise<void> {
    const { store } = this.ctx;
    const params = job.inventory!;
    let archives = Object.values(store.state.archives)
      .filter((a) => a.vault === job.vault)
      .filter((a) => params.startDate === null || Date.parse(a.creationDate) >= Date.parse(params.startDate))
      .filter((a) => params.endDate === null || Date.parse(a.creationDate) < Date.parse(params.endDate))
      .sort((a, b) => a.creationDate.localeCompare(b.creationDate) || a.id.localeCompare(b.id));
    if (params.marker)
      archives = archives.slice(
        Math.max(
          0,
          archives.findIndex((a) => a.id === params.marker),
        ),
      );
    const limit = params.limit === null ? archives.length : Number(params.limit);
    job.nextInventoryMarker = archives.length > limit ? archives[limit].id : null;
    const list = archives.slice(0, limit).map((a) => ({
      ArchiveId: a.id,
      ArchiveDescription: a.description,
      CreationDate: a.creationDate,
      Size: a.size,
      SHA256TreeHash: a.treeHash,
    }));
    let output: string;
    if (params.format === 'CSV') {
      const field = (value: string) => (/[",]/.test(value) ? `"${value.replace(/"/g, '\\"')}"` : value);
      output = ['ArchiveId,ArchiveDescription,CreationDate,Size,SHA256TreeHash']
        .concat(list.map((a) => [a.ArchiveId, field(a.ArchiveDescription), a.CreationDate, a.Size, a.SHA256TreeHash].join(',')))
        .join('\n');
    } else {
      output = JSON.stringify({ VaultARN: this.ctx.vaultArn(job.vault), InventoryDate: now, ArchiveList: list });
    }
    const file = newFileName();
    await writeFile(store.path('jobs', file), output);
    job.outputFile = file;
    job.outputSize = Buffer.byteLength(output);
    job.inventorySize = job.outputSize;
    const vault = store.state.vaults[job.vault];
    if (vault) vault.lastInventoryDate = now;
  }
}
