// Single-request archives: UploadArchive (checksums verified against the bytes) and DeleteArchive.
import { rename } from 'node:fs/promises';
import { treeRoot, looksLikeHexDigest } from './checksums';
import type { Call, Ctx } from './context';
import { GlacierError, invalidParameter, notFound } from './errors';
import { header, receiveBodyToFile, requiredHeader, sendEmpty, validateDescription } from './http';
import { newArchiveId, newFileName, type ArchiveRecord } from './store';

/** Largest body UploadArchive takes (4 GiB); bigger archives must use multipart upload. */
export const MAX_SINGLE_UPLOAD = 4 * 1024 * 1024 * 1024;

/** The two checksum headers UploadArchive and UploadMultipartPart require, checked for form before the body is read. */
export function checksumHeaders(call: Call) {
  const treeHash = requiredHeader(call.req, 'x-amz-sha256-tree-hash');
  if (!looksLikeHexDigest(treeHash)) throw invalidParameter(`Invalid x-amz-sha256-tree-hash: ${treeHash}`);
  const contentSha256 = requiredHeader(call.req, 'x-amz-content-sha256');
  return { treeHash: treeHash.toLowerCase(), contentSha256: contentSha256.toLowerCase() };
}

/** Compares the received bytes with both checksums; returns the tree hash Glacier computed. */
export function verifyChecksums(claimed: { treeHash: string; contentSha256: string }, received: { sha256: Buffer; leaves: Buffer[] }): string {
  const sha256 = received.sha256.toString('hex');
  if (sha256 !== claimed.contentSha256) {
    // SigV4 checks the payload hash before the service sees the request, hence a signature error.
    throw new GlacierError(
      'InvalidSignatureException',
      `The value passed in as x-amz-content-sha256 does not match the computed payload hash. Computed digest: ${sha256} expected hash: ${claimed.contentSha256}`,
    );
  }
  const treeHash = treeRoot(received.leaves).toString('hex');
  if (treeHash !== claimed.treeHash) throw invalidParameter(`Checksum mismatch: expected ${claimed.treeHash}, computed ${treeHash}`);
  return treeHash;
}

/** Archive descriptions lose their leading spaces, as the API reference says. */
export const archiveDescription = (call: Call) => validateDescription('archive', header(call.req, 'x-amz-archive-description'))?.replace(/^ +/, '') ?? '';

export async function uploadArchive(ctx: Ctx, call: Call): Promise<void> {
  const vault = ctx.store.vault(call.vaultName, ctx.vaultArn(call.vaultName));
  const contentLength = requiredHeader(call.req, 'content-length');
  const size = Number(contentLength);
  // Glacier refuses empty archives ("Invalid Content-Length: 0") and single uploads over 4 GiB.
  if (!/^\d+$/.test(contentLength) || size <= 0 || size > MAX_SINGLE_UPLOAD) throw invalidParameter(`Invalid Content-Length: ${contentLength}`);
  const claimed = checksumHeaders(call);
  const description = archiveDescription(call);

  const tmp = ctx.store.tmpFile();
  try {
    const received = await receiveBodyToFile(call.req, tmp);
    if (received.bytes !== size) throw invalidParameter(`Content-Length: ${size} does not match the ${received.bytes} bytes received`);
    const treeHash = verifyChecksums(claimed, received);
    const archive: ArchiveRecord = {
      id: newArchiveId(),
      vault: vault.name,
      description,
      creationDate: ctx.now().toISOString(),
      size,
      treeHash,
      file: newFileName(),
    };
    const file = ctx.store.path('archives', archive.file);
    await ctx.store.writeLeaves(file, received.leaves);
    await rename(tmp, file);
    ctx.store.state.archives[archive.id] = archive;
    ctx.store.save();
    sendEmpty(call.res, 201, {
      location: ctx.location(vault.name, 'archives', archive.id),
      'x-amz-archive-id': archive.id,
      'x-amz-sha256-tree-hash': treeHash,
    });
  } catch (error) {
    await ctx.store.removeFile(tmp);
    throw error;
  }
}

/** Looks up an archive of a vault; an archive of another vault is "Invalid vault name", as AWS answers. */
export function findArchive(ctx: Ctx, vaultName: string, archiveId: string): ArchiveRecord {
  const archive = ctx.store.state.archives[archiveId];
  if (!archive) throw notFound(`The archive ID was not found: ${archiveId}`);
  if (archive.vault !== vaultName) throw invalidParameter(`Invalid vault name: ${ctx.vaultArn(vaultName)}`);
  return archive;
}

export async function deleteArchive(ctx: Ctx, call: Call): Promise<void> {
  ctx.store.vault(call.vaultName, ctx.vaultArn(call.vaultName));
  const archive = findArchive(ctx, call.vaultName, call.ids[0]);
  delete ctx.store.state.archives[archive.id];
  ctx.store.save();
  // Retrieval jobs hold hard links to the bytes, so their output outlives the archive.
  await ctx.store.removeFile(ctx.store.path('archives', archive.file));
  sendEmpty(call.res, 204);
}
