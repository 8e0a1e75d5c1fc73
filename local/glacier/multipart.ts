// Multipart uploads: part size and Content-Range rules, per-part checksums, and assembly checked against the parts.
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { archiveDescription, checksumHeaders, verifyChecksums } from './archives';
import { LeafHasher, MIB, looksLikeHexDigest, treeRoot } from './checksums';
import { page, parseLimit, type Call, type Ctx } from './context';
import { invalidParameter, notFound } from './errors';
import { header, parseCount, receiveBodyToFile, requiredHeader, sendEmpty, sendJson } from './http';
import { newArchiveId, newFileName, newUploadId, type ArchiveRecord, type UploadRecord } from './store';

const MAX_PART_SIZE = 4096 * MIB;
const MAX_PARTS = 10_000;

function findUpload(ctx: Ctx, call: Call): UploadRecord {
  ctx.store.vault(call.vaultName, ctx.vaultArn(call.vaultName));
  const upload = ctx.store.state.uploads[call.ids[0]];
  if (!upload || upload.vault !== call.vaultName) throw notFound(`The upload ID was not found: ${call.ids[0]}`);
  return upload;
}

const sortedParts = (upload: UploadRecord) => Object.values(upload.parts).sort((a, b) => a.start - b.start);

export async function initiateMultipartUpload(ctx: Ctx, call: Call): Promise<void> {
  const vault = ctx.store.vault(call.vaultName, ctx.vaultArn(call.vaultName));
  const raw = header(call.req, 'x-amz-part-size');
  const partSize = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : NaN;
  const mib = partSize / MIB;
  if (!(partSize >= MIB && partSize <= MAX_PART_SIZE && Number.isInteger(mib) && (mib & (mib - 1)) === 0)) {
    throw invalidParameter(
      `Invalid part size: ${raw ?? 'null'}. Part size must not be null, must be a power of two and be between 1048576 and 4294967296 bytes.`,
    );
  }
  const upload: UploadRecord = {
    id: newUploadId(),
    vault: vault.name,
    description: header(call.req, 'x-amz-archive-description') === undefined ? null : archiveDescription(call),
    partSize,
    creationDate: ctx.now().toISOString(),
    dir: newFileName(),
    parts: {},
  };
  await mkdir(ctx.store.path('uploads', upload.dir), { recursive: true });
  ctx.store.state.uploads[upload.id] = upload;
  ctx.store.save();
  sendEmpty(call.res, 201, {
    location: ctx.location(vault.name, 'multipart-uploads', upload.id),
    'x-amz-multipart-upload-id': upload.id,
  });
}

export async function uploadMultipartPart(ctx: Ctx, call: Call): Promise<void> {
  const upload = findUpload(ctx, call);
  const range = requiredHeader(call.req, 'content-range');
  const match = /^bytes (\d+)-(\d+)\/\*$/.exec(range);
  const start = match ? Number(match[1]) : NaN;
  const end = match ? Number(match[2]) : NaN;
  if (!match || !Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) {
    throw invalidParameter(`Invalid Content-Range: ${range}`);
  }
  const length = end - start + 1;
  const contentLength = header(call.req, 'content-length');
  if (contentLength !== undefined && Number(contentLength) !== length) {
    throw invalidParameter(`Content-Range: ${range} is incompatible with Content-Length: ${contentLength}`);
  }
  if (length > upload.partSize) {
    throw invalidParameter(`Content-Range: ${range} is larger than the part size of the upload: ${upload.partSize}`);
  }
  if (start % upload.partSize !== 0) {
    throw invalidParameter(`Content-Range: ${range} does not align with the part size of the upload: ${upload.partSize}`);
  }
  const partNumber = start / upload.partSize + 1;
  if (partNumber > MAX_PARTS) {
    throw invalidParameter(`This is part number ${partNumber} for the current multipart upload. It exceeds the limit of ${MAX_PARTS} parts.`);
  }
  const claimed = checksumHeaders(call);

  const tmp = ctx.store.tmpFile();
  try {
    const received = await receiveBodyToFile(call.req, tmp);
    if (received.bytes !== length) throw invalidParameter(`Content-Range: ${range} is incompatible with the ${received.bytes} bytes received`);
    const treeHash = verifyChecksums(claimed, received);
    // The upload may have been completed or aborted while the part streamed in.
    const current = findUpload(ctx, call);
    const file = newFileName();
    await rename(tmp, ctx.store.path('uploads', current.dir, file));
    const replaced = current.parts[String(start)];
    current.parts[String(start)] = { start, end, treeHash, file };
    current.lastActivity = ctx.now().toISOString();
    ctx.store.save();
    if (replaced) await ctx.store.removeFile(ctx.store.path('uploads', current.dir, replaced.file));
    sendEmpty(call.res, 204, { 'x-amz-sha256-tree-hash': treeHash });
  } catch (error) {
    await ctx.store.removeFile(tmp);
    throw error;
  }
}

export function listParts(ctx: Ctx, call: Call): void {
  const upload = findUpload(ctx, call);
  const limit = parseLimit(call.query, 50);
  const { slice, next } = page(sortedParts(upload), (p) => String(p.start), call.query.get('marker'), limit);
  sendJson(call.res, 200, {
    ArchiveDescription: upload.description,
    CreationDate: upload.creationDate,
    Marker: next,
    MultipartUploadId: upload.id,
    PartSizeInBytes: upload.partSize,
    Parts: slice.map((p) => ({ RangeInBytes: `${p.start}-${p.end}`, SHA256TreeHash: p.treeHash })),
    VaultARN: ctx.vaultArn(upload.vault),
  });
}

export function listMultipartUploads(ctx: Ctx, call: Call): void {
  ctx.store.vault(call.vaultName, ctx.vaultArn(call.vaultName));
  const limit = parseLimit(call.query, 50);
  const uploads = Object.values(ctx.store.state.uploads)
    .filter((u) => u.vault === call.vaultName)
    .sort((a, b) => a.creationDate.localeCompare(b.creationDate) || a.id.localeCompare(b.id));
  const { slice, next } = page(uploads, (u) => u.id, call.query.get('marker'), limit);
  sendJson(call.res, 200, {
    Marker: next,
    UploadsList: slice.map((u) => ({
      ArchiveDescription: u.description,
      CreationDate: u.creationDate,
      MultipartUploadId: u.id,
      PartSizeInBytes: u.partSize,
      VaultARN: ctx.vaultArn(u.vault),
    })),
  });
}

export async function abortMultipartUpload(ctx: Ctx, call: Call): Promise<void> {
  const upload = findUpload(ctx, call);
  delete ctx.store.state.uploads[upload.id];
  ctx.store.save();
  await rm(ctx.store.path('uploads', upload.dir), { recursive: true, force: true });
  sendEmpty(call.res, 204);
}

/** Completes in flight, per upload id: a repeat waits for the first (the SDK retries a Complete whose connection dropped). */
const completing = new Map<string, Promise<void>>();

/**
 * A Complete repeated while the first is still assembling (its client gave up on the connection and retried) must not
 * assemble a second archive: AWS promises the same archive id, so the repeat waits and answers from the first.
 */
export async function completeMultipartUpload(ctx: Ctx, call: Call): Promise<void> {
  const uploadId = call.ids[0];
  for (let earlier = completing.get(uploadId); earlier; earlier = completing.get(uploadId)) await earlier.catch(() => undefined);
  const work = completeOnce(ctx, call);
  completing.set(uploadId, work);
  try {
    await work;
  } finally {
    if (completing.get(uploadId) === work) completing.delete(uploadId);
  }
}

async function completeOnce(ctx: Ctx, call: Call): Promise<void> {
  ctx.store.vault(call.vaultName, ctx.vaultArn(call.vaultName));
  const sizeHeader = requiredHeader(call.req, 'x-amz-archive-size');
  const claimedHash = requiredHeader(call.req, 'x-amz-sha256-tree-hash').toLowerCase();
  const archiveSize = parseCount('x-amz-archive-size', sizeHeader);
  if (!looksLikeHexDigest(claimedHash)) throw invalidParameter(`Invalid x-amz-sha256-tree-hash: ${claimedHash}`);

  // A repeated Complete soon after success returns the same archive (AWS documents this idempotency).
  const done = ctx.store.state.completedUploads[call.ids[0]];
  if (done && done.vault === call.vaultName) {
    if (done.size !== archiveSize) throw invalidParameter(`Invalid x-amz-archive-size: ${sizeHeader}`);
    if (done.treeHash !== claimedHash) throw invalidParameter(`Invalid x-amz-sha256-tree-hash: ${claimedHash}`);
    sendEmpty(call.res, 201, {
      location: ctx.location(call.vaultName, 'archives', done.archiveId),
      'x-amz-archive-id': done.archiveId,
      'x-amz-sha256-tree-hash': done.treeHash,
    });
    return;
  }

  const upload = findUpload(ctx, call);
  const parts = sortedParts(upload);
  let expectedStart = 0;
  for (const [i, part] of parts.entries()) {
    if (part.start !== expectedStart) {
      throw invalidParameter(`Incomplete multipart upload: no part covers the range starting at byte ${expectedStart}`);
    }
    const isLast = i === parts.length - 1;
    if (!isLast && part.end - part.start + 1 !== upload.partSize) {
      throw invalidParameter(`Part ${part.start}-${part.end} is smaller than the part size ${upload.partSize} but is not the last part`);
    }
    expectedStart = part.end + 1;
  }
  if (parts.length === 0 || expectedStart !== archiveSize) {
    throw invalidParameter(`Invalid x-amz-archive-size: ${sizeHeader}. The uploaded parts add up to ${expectedStart} bytes`);
  }
  const partsRoot = treeRoot(parts.map((p) => Buffer.from(p.treeHash, 'hex'))).toString('hex');
  if (partsRoot !== claimedHash) throw invalidParameter(`Invalid x-amz-sha256-tree-hash: ${claimedHash}`);

  // Assemble the archive, recomputing every leaf from the stored bytes rather than trusting the part hashes.
  const tmp = ctx.store.tmpFile();
  const hasher = new LeafHasher();
  const out = await open(tmp, 'w');
  try {
    const buffer = Buffer.allocUnsafe(MIB);
    for (const part of parts) {
      const input = await open(ctx.store.path('uploads', upload.dir, part.file), 'r');
      try {
        for (let position = 0; ;) {
          const { bytesRead } = await input.read(buffer, 0, buffer.length, position);
          if (bytesRead === 0) break;
          hasher.add(buffer.subarray(0, bytesRead));
          await out.write(buffer, 0, bytesRead);
          position += bytesRead;
        }
      } finally {
        await input.close();
      }
    }
  } finally {
    await out.close();
  }
  const { leaves } = hasher.finish();
  if (treeRoot(leaves).toString('hex') !== claimedHash) {
    await ctx.store.removeFile(tmp);
    throw invalidParameter(`Invalid x-amz-sha256-tree-hash: ${claimedHash}`);
  }
  const archive: ArchiveRecord = {
    id: newArchiveId(),
    vault: upload.vault,
    description: upload.description ?? '',
    creationDate: ctx.now().toISOString(),
    size: archiveSize,
    treeHash: claimedHash,
    file: newFileName(),
  };
  const file = ctx.store.path('archives', archive.file);
  await ctx.store.writeLeaves(file, leaves);
  await rename(tmp, file);
  const state = ctx.store.state;
  state.archives[archive.id] = archive;
  delete state.uploads[upload.id];
  state.completedUploads[upload.id] = { vault: upload.vault, archiveId: archive.id, treeHash: claimedHash, size: archiveSize };
  ctx.store.save();
  await rm(ctx.store.path('uploads', upload.dir), { recursive: true, force: true });
  sendEmpty(call.res, 201, {
    location: ctx.location(upload.vault, 'archives', archive.id),
    'x-amz-archive-id': archive.id,
    'x-amz-sha256-tree-hash': claimedHash,
  });
}
