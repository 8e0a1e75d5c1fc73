// What earlier, crashed attempts left of an upload: one to complete again or resume, and strays nobody recorded to abort.
import {
  AbortMultipartUploadCommand as AbortVaultUploadCommand,
  ListMultipartUploadsCommand as ListVaultUploadsCommand,
  type GlacierClient,
} from '@aws-sdk/client-glacier';
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { completeAgain } from '../glacier/vault-upload';
import { decodeListedKey } from '../s3/listing';

/**
 * An attempt that dies between starting an upload and recording its id leaves an upload nobody names: in a vault it
 * holds parts until Glacier expires it (24 hours), in the archive bucket until the lifecycle rule does. The worker
 * that claims the file next (only one can: run-index.ts claimFile) finds them by what only this file's uploads carry,
 * the vault archive description or the archive key, and aborts every one but the upload it resumes.
 */
export interface StrayUploadArgs {
  /** The upload the claiming worker resumes; never aborted. */
  keep?: string;
}

/** Aborts the vault's open uploads with this archive description (but `keep`); returns how many. */
export async function abortStrayVaultUploads(glacier: GlacierClient, vaultName: string, description: string, { keep }: StrayUploadArgs = {}): Promise<number> {
  const strays: string[] = [];
  let marker: string | undefined;
  do {
    const page = await glacier.send(new ListVaultUploadsCommand({ accountId: '-', vaultName, marker }));
    for (const upload of page.UploadsList ?? []) {
      if (upload.ArchiveDescription === description && upload.MultipartUploadId && upload.MultipartUploadId !== keep) strays.push(upload.MultipartUploadId);
    }
    marker = page.Marker ?? undefined;
  } while (marker);
  for (const uploadId of strays) {
    await ignoringGone(() => glacier.send(new AbortVaultUploadCommand({ accountId: '-', vaultName, uploadId })));
  }
  return strays.length;
}

/** Aborts the bucket's open multipart uploads of exactly this key (but `keep`); returns how many. */
export async function abortStrayS3Uploads(s3: S3Client, bucket: string, key: string, { keep }: StrayUploadArgs = {}): Promise<number> {
  const strays: string[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  const where = `the open uploads of s3://${bucket}/${key}`;
  for (;;) {
    const page = await s3.send(
      new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: key, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker, EncodingType: 'url' }),
    );
    // Keys come URL-encoded (any UTF-8 is a valid key, not every character is valid XML), as in listing.ts.
    const decoded = (listed: string | undefined) => (listed !== undefined && page.EncodingType === 'url' ? decodeListedKey(listed, where) : listed);
    // The prefix also matches longer keys (another file's path that extends this one): only the exact key is ours.
    for (const upload of page.Uploads ?? []) if (decoded(upload.Key) === key && upload.UploadId && upload.UploadId !== keep) strays.push(upload.UploadId);
    if (!page.IsTruncated) break;
    keyMarker = decoded(page.NextKeyMarker);
    uploadIdMarker = page.NextUploadIdMarker;
  }
  for (const uploadId of strays) {
    await ignoringGone(() => s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })));
  }
  return strays.length;
}

/** Aborted meanwhile (by Glacier's expiry or the lifecycle rule): what the sweep wanted. */
async function ignoringGone(abort: () => Promise<unknown>): Promise<void> {
  try {
    await abort();
  } catch (error) {
    const name = (error as Error).name;
    if (name !== 'ResourceNotFoundException' && name !== 'NoSuchUpload') throw error;
  }
}

/** What the index recorded of earlier attempts at one vault upload (a file's or a bundle's record). */
export interface PriorVaultUpload {
  uploadId?: string;
  partSize?: number;
  completingTreeHash?: string;
  completingSha256?: string;
  attempts?: number;
}

/**
 * Picks up where earlier attempts left a vault upload: one that got as far as completing it completes it again
 * (Glacier names the archive it made, `completed`); otherwise the recorded upload is resumed when its part size is
 * still the one wanted, and every other open upload with this description is aborted (`resumeUploadId`, maybe none).
 */
export async function pickUpVaultUpload(
  glacier: GlacierClient,
  vaultName: string,
  description: string,
  prior: PriorVaultUpload,
  size: number,
  partSize: number,
): Promise<{ completed: { archiveId: string; uploadId: string; treeHash: string; sha256: string; size: number } } | { resumeUploadId?: string }> {
  if (prior.uploadId && prior.completingTreeHash && prior.completingSha256) {
    const intent = { uploadId: prior.uploadId, treeHash: prior.completingTreeHash, sha256: prior.completingSha256, size };
    try {
      return { completed: { ...intent, archiveId: await completeAgain(glacier, vaultName, intent) } };
    } catch (error) {
      // Gone for good (Glacier forgets completed uploads after a while): the upload starts afresh (docs/reliability.md).
      if ((error as Error).name !== 'ResourceNotFoundException') throw error;
    }
  }
  const resumeUploadId = prior.partSize === partSize ? prior.uploadId : undefined;
  if ((prior.attempts ?? 0) > 1) await abortStrayVaultUploads(glacier, vaultName, description, { keep: resumeUploadId });
  return { resumeUploadId };
}
