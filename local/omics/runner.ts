// Drives runs that StartRun started: PENDING → STARTING → RUNNING → COMPLETED on timers, writing outputs, logs and events.
import type { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { OmicsEmulator } from './emulator';
import { publishRunStatusEvent, writeRunArtifacts } from './fixture';
import type { RunStatus } from './model';

/** How long a started run spends in each status before it moves on. */
export interface RunDelays {
  /** PENDING → STARTING. */
  pendingMs: number;
  /** STARTING → RUNNING. */
  startingMs: number;
  /** RUNNING → COMPLETED (outputs and logs are written at the end of it). */
  runningMs: number;
}

/** "A few seconds" end to end: long enough to watch with get-run, short enough for a walk-through. */
export const DEFAULT_RUN_DELAYS: RunDelays = { pendingMs: 1000, startingMs: 2000, runningMs: 3000 };

/** The run parameter naming a local folder whose files become the run's outputs (instead of the synthetic ones). */
export const OUTPUTS_FROM_PARAMETER = 'outputsFrom';

export interface RunDriverOptions {
  emulator: OmicsEmulator;
  s3: S3Client;
  logs: CloudWatchLogsClient;
  events: EventBridgeClient;
  delays?: Partial<RunDelays>;
  /** A folder named by `outputsFrom` is resolved against this (default: the process's working directory). */
  baseDir?: string;
  /** Told about a step that failed in a way the run itself cannot report (EventBridge down, say). */
  onError?: (runId: string, error: Error) => void;
}

/**
 * Plays the workflow engine for runs started through the API. Each run's next step is a timer this driver owns;
 * close() clears them and waits for a step in flight, so nothing outlives the local cloud.
 */
export class RunDriver {
  private readonly delays: RunDelays;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(private readonly options: RunDriverOptions) {
    this.delays = { ...DEFAULT_RUN_DELAYS, ...options.delays };
    options.emulator.onRunStarted((runId) => this.start(runId));
  }

  /** Runs still being driven (a test waits for none before it stops the cloud, or just closes). */
  get active(): number {
    return this.timers.size + this.inFlight.size;
  }

  start(runId: string): void {
    if (this.closed) return;
    // The PENDING event goes out as the service sends it, right after StartRun answers.
    this.step(runId, 0, async () => {
      await this.publish(runId, 'PENDING');
      this.after(runId, this.delays.pendingMs, () => this.move(runId, 'PENDING', 'STARTING', () => this.afterStarting(runId)));
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  private afterStarting(runId: string): void {
    this.after(runId, this.delays.startingMs, () => this.move(runId, 'STARTING', 'RUNNING', () => this.afterRunning(runId)));
  }

  private afterRunning(runId: string): void {
    this.after(runId, this.delays.runningMs, () => this.finish(runId));
  }

  private after(runId: string, ms: number, fn: () => Promise<void>): void {
    if (this.closed) return;
    this.step(runId, ms, fn);
  }

  private step(runId: string, ms: number, fn: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (this.closed) return;
      const work = fn()
        .catch((error: unknown) => this.options.onError?.(runId, error as Error))
        .finally(() => this.inFlight.delete(work));
      this.inFlight.add(work);
    }, ms);
    this.timers.add(timer);
  }

  /** The run's status now, or undefined once it is gone (deleted). */
  private status(runId: string): RunStatus | undefined {
    return this.options.emulator.runs().find((r) => r.id === runId)?.status;
  }

  /** Moves from `from` to `to` unless something else moved the run meanwhile (CancelRun): then only says so. */
  private async move(runId: string, from: RunStatus, to: RunStatus, next: () => void): Promise<void> {
    const current = this.status(runId);
    if (current !== from) return this.interrupted(runId, current);
    this.options.emulator.advanceRun(runId, to, new Date());
    await this.publish(runId, to);
    next();
  }

  private async interrupted(runId: string, current: RunStatus | undefined): Promise<void> {
    // CancelRun answered already; the service then reports the cancellation like any other status change.
    if (current === 'CANCELLED') await this.publish(runId, 'CANCELLED');
  }

  /** Writes the outputs and logs, then makes the run COMPLETED (FAILED if they could not be written) and says so. */
  private async finish(runId: string): Promise<void> {
    const { emulator, s3, logs } = this.options;
    const current = this.status(runId);
    if (current !== 'RUNNING') return this.interrupted(runId, current);
    const at = new Date();
    const preview = emulator.previewStatus(runId, 'COMPLETED', at);
    const folder = preview.run.parameters[OUTPUTS_FROM_PARAMETER];
    let failure: { reason: string; message: string } | undefined;
    try {
      if (folder !== undefined) {
        if (typeof folder !== 'string') throw new Error(`parameter ${OUTPUTS_FROM_PARAMETER} must be a folder path`);
        const resolved = path.resolve(this.options.baseDir ?? process.cwd(), folder);
        if (!fs.existsSync(resolved) || !fs.statSync(resolved).isDirectory()) throw new Error(`${OUTPUTS_FROM_PARAMETER} ${resolved}: no such folder`);
        preview.fixture.outputs = [];
        preview.fixture.outputsFolder = resolved;
      }
      await writeRunArtifacts(preview.fixture, preview.run, preview.tasks, { emulator, s3, logs });
    } catch (error) {
      failure = { reason: 'OUTPUTS_NOT_WRITTEN', message: `The run's outputs could not be written: ${(error as Error).message}` };
    }
    // CancelRun may have come while the outputs were being written.
    if (this.status(runId) !== 'RUNNING') return this.interrupted(runId, this.status(runId));
    if (failure) emulator.advanceRun(runId, 'FAILED', at, { statusMessage: failure.message, failureReason: failure.reason });
    else emulator.advanceRun(runId, 'COMPLETED', at);
    await this.publish(runId, failure ? 'FAILED' : 'COMPLETED');
  }

  private async publish(runId: string, status: RunStatus): Promise<void> {
    const run = this.options.emulator.runs().find((r) => r.id === runId);
    if (!run) return;
    const workflowName = this.options.emulator.workflowOf(runId)?.name;
    const time = new Date(status === run.status && run.stopTime ? run.stopTime : Date.now());
    await publishRunStatusEvent(this.options.events, { ...run, status }, workflowName, time);
  }
}
