// Retrieval jobs: InitiateJob (range rules), DescribeJob, ListJobs and GetJobOutput (ranges, 206, tree hash header).
import { createReadStream } from 'node:fs';
import { link } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { findArchive } from './archives';
import { MIB, isNodeOfTree, rangeTreeHash } from './checksums';
import { page, parseLimit, type Call, type Ctx } from './context';
import { GlacierError, invalidParameter, missingParameter, notFound } from './errors';
import { header, readJsonBody, sendEmpty, sendJson, validateDescription } from './http';
import { newFileName, newJobId, type JobRecord, type Tier } from './store';

const TIERS: readonly Tier[] = ['Expedited', 'Standard', 'Bulk'];
const STATUS_CODES = ['InProgress', 'Succeeded', 'Failed'];

/** The job as DescribeJob returns it; the completion notification carries the same document. */
export function describeJob(ctx: Ctx, job: JobRecord) {
  const archive = job.action === 'ArchiveRetrieval';
  const wholeArchive = archive && job.rangeStart === 0 && job.rangeEnd === job.archiveSize;
  return {
    Action: job.action,
    ArchiveId: job.archiveId,
    ArchiveSHA256TreeHash: job.archiveTreeHash,
    ArchiveSizeInBytes: job.archiveSize,
    Completed: job.statusCode !== 'InProgress',
    CompletionDate: job.completionDate,
    CreationDate: job.creationDate,
    InventoryRetrievalParameters: job.inventory
      ? {
          Format: job.inventory.format,
          StartDate: job.inventory.startDate,
          EndDate: job.inventory.endDate,
          Limit: job.inventory.limit,
          Marker: job.statusCode === 'Succeeded' ? job.nextInventoryMarker : job.inventory.marker,
        }
      : null,
    InventorySizeInBytes: job.inventorySize,
    JobDescription: job.description,
    JobId: job.id,
    RetrievalByteRange: job.retrievalByteRange,
    // AWS leaves the whole-archive hash out until the job is done; an aligned partial range has it from the start.
    SHA256TreeHash: wholeArchive && job.statusCode === 'InProgress' ? null : job.rangeTreeHash,
    SNSTopic: job.snsTopic,
    StatusCode: job.statusCode,
    StatusMessage: job.statusMessage,
    Tier: job.tier,
    VaultARN: ctx.vaultArn(job.vault),
  };
}

const optionalString = (params: Record<string, unknown>, name: string): string | undefined => {
  const value = params[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidParameter(`Invalid ${name}: ${JSON.stringify(value)}`);
  return value;
};

/** RetrievalByteRange must be megabyte aligned: start divisible by 1 MiB, end + 1 divisible by 1 MiB or the archive's end. */
function parseRetrievalRange(value: string, size: number): { start: number; end: number } {
  const match = /^(\d+)-(\d+)$/.exec(value);
  const start = match ? Number(match[1]) : NaN;
  const end = match ? Number(match[2]) : NaN;
  if (!match || !(start <= end) || end >= size) {
    throw invalidParameter(`Invalid RetrievalByteRange: ${value}. It must be StartByte-EndByte within the archive of ${size} bytes`);
  }
  if (start % MIB !== 0 || ((end + 1) % MIB !== 0 && end !== size - 1)) {
    throw invalidParameter(
      `Invalid RetrievalByteRange: ${value}. The range must be megabyte aligned: the start divisible by 1 MiB and the end plus 1 divisible by 1 MiB or equal to the archive size`,
    );
  }
  return { start, end: end + 1 };
}

export async function initiateJob(ctx: Ctx, call: Call): Promise<void> {
  const vault = ctx.store.vault(call.vaultName, ctx.vaultArn(call.vaultName));
  const params = await readJsonBody(call.req);
  const type = optionalString(params, 'Type');
  if (type === undefined) throw missingParameter('Required parameter Type is missing');
  const description = validateDescription('job', optionalString(params, 'Description')) ?? null;
  const snsTopic = optionalString(params, 'SNSTopic') ?? null;
  if (snsTopic !== null && !/^arn:[^:]+:sns:[^:]*:[^:]*:.+$/.test(snsTopic)) throw invalidParameter(`Invalid SNSTopic: ${snsTopic}`);
  const now = ctx.now().toISOString();
  const base = {
    id: newJobId(),
    vault: vault.name,
    description,
    snsTopic,
    creationDate: now,
    completionDate: null,
    statusCode: 'InProgress' as const,
    statusMessage: null,
    inventorySize: null,
    nextInventoryMarker: null,
    suppressNotification: false,
    corruptOffsets: [],
  };
  let job: JobRecord;
  if (type === 'archive-retrieval') {
    const archiveId = optionalString(params, 'ArchiveId');
    if (!archiveId) throw missingParameter('Required parameter ArchiveId is missing');
    const archive = findArchive(ctx, vault.name, archiveId);
    const tier = (optionalString(params, 'Tier') ?? 'Standard') as Tier;
    if (!TIERS.includes(tier)) throw invalidParameter(`Invalid Tier: ${tier}. Valid tiers are ${TIERS.join(', ')}`);
    // Glacier's answer when it has no Expedited capacity at the moment (only Expedited requests ever get it).
    if (tier === 'Expedited' && ctx.jobs.refuseExpedited()) {
      throw new GlacierError('InsufficientCapacityException', 'There is insufficient capacity to process this expedited request');
    }
    const requested = optionalString(params, 'RetrievalByteRange');
    const { start, end } = requested ? parseRetrievalRange(requested, archive.size) : { start: 0, end: archive.size };
    const aligned = isNodeOfTree(start, end, archive.size);
    const archiveFile = ctx.store.path('archives', archive.file);
    const outputFile = newFileName();
    // A hard link pins the bytes as they are now, so deleting the archive later does not break the job.
    await link(archiveFile, ctx.store.path('jobs', outputFile));
    await link(`${archiveFile}.leaves`, ctx.store.path('jobs', `${outputFile}.leaves`));
    job = {
      ...base,
      action: 'ArchiveRetrieval',
      tier,
      dueAt: Date.now() + ctx.jobs.delayMs(tier),
      archiveId: archive.id,
      archiveSize: archive.size,
      archiveTreeHash: archive.treeHash,
      rangeStart: start,
      rangeEnd: end,
      retrievalByteRange: `${start}-${end - 1}`,
      rangeAligned: aligned,
      rangeTreeHash: aligned ? rangeTreeHash(await ctx.store.readLeaves(archiveFile), start, end).toString('hex') : null,
      inventory: null,
      outputFile,
      outputSize: end - start,
    };
  } else if (type === 'inventory-retrieval') {
    const format = optionalString(params, 'Format') ?? 'JSON';
    if (format !== 'JSON' && format !== 'CSV') throw invalidParameter(`Invalid Format: ${format}. Valid formats are JSON, CSV`);
    const inventoryParams = (params.InventoryRetrievalParameters ?? {}) as Record<string, unknown>;
    const startDate = optionalString(inventoryParams, 'StartDate') ?? null;
    const endDate = optionalString(inventoryParams, 'EndDate') ?? null;
    const limit = optionalString(inventoryParams, 'Limit') ?? null;
    for (const [name, value] of [
      ['StartDate', startDate],
      ['EndDate', endDate],
    ] as const) {
      if (value !== null && Number.isNaN(Date.parse(value))) throw invalidParameter(`Invalid ${name}: ${value}`);
    }
    if (limit !== null && !(/^\d+$/.test(limit) && Number(limit) > 0)) throw invalidParameter(`Invalid Limit: ${limit}`);
    job = {
      ...base,
      action: 'InventoryRetrieval',
      tier: null,
      dueAt: Date.now() + ctx.jobs.delayMs('inventory'),
      archiveId: null,
      archiveSize: null,
      archiveTreeHash: null,
      rangeStart: 0,
      rangeEnd: 0,
      retrievalByteRange: null,
      rangeAligned: false,
      rangeTreeHash: null,
      inventory: { format, startDate, endDate, limit, marker: optionalString(inventoryParams, 'Marker') ?? null },
      outputFile: null,
      outputSize: null,
    };
  } else if (type === 'select') {
    throw invalidParameter('Select jobs are not supported by the local Glacier emulator');
  } else {
    throw invalidParameter(`Invalid job type: ${type}. Valid types are archive-retrieval, inventory-retrieval`);
  }
  ctx.store.state.jobs[job.id] = job;
  ctx.store.save();
  ctx.jobs.schedule(job);
  sendEmpty(call.res, 202, { location: ctx.location(vault.name, 'jobs', job.id), 'x-amz-job-id': job.id });
}

function findJob(ctx: Ctx, call: Call): JobRecord {
  ctx.store.vault(call.vaultName, ctx.vaultArn(call.vaultName));
  const job = ctx.store.state.jobs[call.ids[0]];
  if (!job || job.vault !== call.vaultName) throw notFound(`The job ID was not found: ${call.ids[0]}`);
  return job;
}

export function describeJobOperation(ctx: Ctx, call: Call): void {
  sendJson(call.res, 200, describeJob(ctx, findJob(ctx, call)));
}

export function listJobs(ctx: Ctx, call: Call): void {
  ctx.store.vault(call.vaultName, ctx.vaultArn(call.vaultName));
  const limit = parseLimit(call.query, 50);
  const statusCode = call.query.get('statuscode');
  if (statusCode !== null && !STATUS_CODES.includes(statusCode)) throw invalidParameter(`The job status code is not valid: ${statusCode}`);
  const completed = call.query.get('completed');
  if (completed !== null && completed !== 'true' && completed !== 'false') throw invalidParameter(`Invalid completed: ${completed}`);
  const jobs = Object.values(ctx.store.state.jobs)
    .filter((j) => j.vault === call.vaultName)
    .filter((j) => statusCode === null || j.statusCode === statusCode)
    .filter((j) => completed === null || (j.statusCode !== 'InProgress') === (completed === 'true'))
    .sort((a, b) => a.creationDate.localeCompare(b.creationDate) || a.id.localeCompare(b.id));
  const { slice, next } = page(jobs, (j) => j.id, call.query.get('marker'), limit);
  sendJson(call.res, 200, { JobList: slice.map((j) => describeJob(ctx, j)), Marker: next });
}

/** Parses `bytes=a-b`, `bytes=a-` or `bytes=-n`; anything else is ignored and the whole output returned, as AWS does. */
function parseRange(value: string | undefined, size: number): { start: number; end: number } | undefined {
  const match = value === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (match[1] === '') {
    start = Math.max(0, size - Number(match[2]));
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start > end || start >= size) throw invalidParameter(`The requested range is not satisfiable: ${value}`);
  return { start, end };
}

export async function getJobOutput(ctx: Ctx, call: Call): Promise<void> {
  const job = findJob(ctx, call);
  if (job.statusCode !== 'Succeeded' || job.outputFile === null || job.outputSize === null) {
    throw invalidParameter(`The job is not currently available for download: ${job.id}`);
  }
  const size = job.outputSize;
  const range = parseRange(header(call.req, 'range'), size);
  const start = range?.start ?? 0;
  const end = range?.end ?? size - 1;
  const headers: Record<string, string> = { 'accept-ranges': 'bytes', 'content-length': String(end - start + 1) };
  const file = ctx.store.path('jobs', job.outputFile);
  let fileOffset = 0;
  if (job.action === 'ArchiveRetrieval') {
    headers['content-type'] = 'application/octet-stream';
    fileOffset = job.rangeStart;
    const archive = job.archiveId ? ctx.store.state.archives[job.archiveId] : undefined;
    if (archive?.description) headers['x-amz-archive-description'] = archive.description;
    // A checksum only when both the job's range and this download's range are nodes of the archive's tree.
    const from = job.rangeStart + start;
    const to = job.rangeStart + end + 1;
    if (job.rangeAligned && job.archiveSize !== null && isNodeOfTree(from, to, job.archiveSize)) {
      headers['x-amz-sha256-tree-hash'] = rangeTreeHash(await ctx.store.readLeaves(file), from, to).toString('hex');
    }
  } else {
    headers['content-type'] = job.inventory?.format === 'CSV' ? 'text/csv' : 'application/json';
  }
  if (range) headers['content-range'] = `bytes ${start}-${end}/${size}`;
  call.res.writeHead(range ? 206 : 200, headers);

  const corrupt = job.corruptOffsets.filter((offset) => offset >= start && offset <= end);
  let position = start;
  const flipper = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      let out = chunk;
      for (const offset of corrupt) {
        if (offset >= position && offset < position + chunk.length) {
          if (out === chunk) out = Buffer.from(chunk);
          out[offset - position] ^= 0xff;
        }
      }
      position += chunk.length;
      callback(null, out);
    },
  });
  await pipeline(createReadStream(file, { start: fileOffset + start, end: fileOffset + end }), flipper, call.res);
}
