// The emulator's state: vault, archive, upload and job metadata in memory (mirrored to state.json), bytes on disk.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { notFound } from './errors';

export interface NotificationConfig {
  SNSTopic: string;
  Events: string[];
}

export interface VaultRecord {
  name: string;
  creationDate: string;
  lastInventoryDate: string | null;
  notification?: NotificationConfig;
}

export interface ArchiveRecord {
  id: string;
  vault: string;
  description: string;
  creationDate: string;
  size: number;
  treeHash: string;
  /** File name under archives/; its 1-MiB leaf hashes sit beside it with a `.leaves` suffix. */
  file: string;
}

export interface PartRecord {
  start: number;
  end: number;
  treeHash: string;
  file: string;
}

export interface UploadRecord {
  id: string;
  vault: string;
  description: string | null;
  partSize: number;
  creationDate: string;
  /** The last InitiateMultipartUpload or UploadMultipartPart; 24 hours without one and Glacier may remove the upload. */
  lastActivity?: string;
  dir: string;
  parts: Record<string, PartRecord>;
}

/** A finished upload, so a repeated CompleteMultipartUpload returns the same archive, as AWS documents. */
export interface CompletedUpload {
  vault: string;
  archiveId: string;
  treeHash: string;
  size: number;
}

export type Tier = 'Expedited' | 'Standard' | 'Bulk';

export interface JobRecord {
  id: string;
  vault: string;
  action: 'ArchiveRetrieval' | 'InventoryRetrieval';
  description: string | null;
  snsTopic: string | null;
  tier: Tier | null;
  creationDate: string;
  completionDate: string | null;
  statusCode: 'InProgress' | 'Succeeded' | 'Failed';
  statusMessage: string | null;
  /** Epoch ms when the job completes. */
  dueAt: number;
  archiveId: string | null;
  archiveSize: number | null;
  archiveTreeHash: string | null;
  /** The retrieved byte range of the archive, [rangeStart, rangeEnd). */
  rangeStart: number;
  rangeEnd: number;
  retrievalByteRange: string | null;
  rangeAligned: boolean;
  rangeTreeHash: string | null;
  inventory: { format: 'JSON' | 'CSV'; startDate: string | null; endDate: string | null; limit: string | null; marker: string | null } | null;
  inventorySize: number | null;
  nextInventoryMarker: string | null;
  /** Output bytes under jobs/ (archive jobs: a hard link to the archive, made when the job starts). */
  outputFile: string | null;
  outputSize: number | null;
  /** Test controls. */
  suppressNotification: boolean;
  corruptOffsets: number[];
}

interface State {
  vaults: Record<string, VaultRecord>;
  archives: Record<string, ArchiveRecord>;
  uploads: Record<string, UploadRecord>;
  completedUploads: Record<string, CompletedUpload>;
  jobs: Record<string, JobRecord>;
}

/** Opaque ids shaped like Glacier's: URL-safe base64, 138 characters for archives and 92 for uploads and jobs. */
export const newArchiveId = () => randomBytes(103).toString('base64url').slice(0, 138);
export const newUploadId = () => randomBytes(69).toString('base64url');
export const newJobId = () => randomBytes(69).toString('base64url');
export const newFileName = () => randomBytes(16).toString('hex');

export class Store {
  readonly state: State;
  private readonly statePath: string;

  constructor(readonly dataDir: string) {
    for (const dir of ['archives', 'uploads', 'jobs', 'tmp']) mkdirSync(join(dataDir, dir), { recursive: true });
    this.statePath = join(dataDir, 'state.json');
    this.state = existsSync(this.statePath)
      ? (JSON.parse(readFileSync(this.statePath, 'utf8')) as State)
      : { vaults: {}, archives: {}, uploads: {}, completedUploads: {}, jobs: {} };
  }

  /** Writes state.json atomically; metadata is small (no bytes, no leaf hashes), so every change rewrites it. */
  save(): void {
    const tmp = `${this.statePath}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state));
    renameSync(tmp, this.statePath);
  }

  path(...parts: string[]): string {
    return join(this.dataDir, ...parts);
  }

  tmpFile(): string {
    return this.path('tmp', newFileName());
  }

  vault(name: string, vaultArn: string): VaultRecord {
    const vault = this.state.vaults[name];
    if (!vault) throw notFound(`Vault not found for ARN: ${vaultArn}`);
    return vault;
  }

  async writeLeaves(file: string, leaves: readonly Buffer[]): Promise<void> {
    await writeFile(`${file}.leaves`, Buffer.concat(leaves));
  }

  async readLeaves(file: string): Promise<Buffer[]> {
    const raw = await readFile(`${file}.leaves`);
    const leaves: Buffer[] = [];
    for (let offset = 0; offset < raw.length; offset += 32) leaves.push(raw.subarray(offset, offset + 32));
    return leaves;
  }

  async removeFile(file: string): Promise<void> {
    for (const f of [file, `${file}.leaves`]) await unlink(f).catch(() => undefined);
  }
}
