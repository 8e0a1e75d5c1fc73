// Aborts the multipart uploads an earlier, crashed attempt at a file left open before it could record them.
import {
  AbortMultipartUploadCommand as AbortVaultUploadCommand,
  ListMultipartUploadsCommand as ListVaultUploadsCommand,
  type GlacierClient,
} from '@aws-sdk/client-glacier';
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
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
