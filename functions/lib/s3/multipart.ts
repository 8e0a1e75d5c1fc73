// S3 multipart uploads as the resumable transfers use them: the parts an upload already holds.
import { ListPartsCommand, type S3Client } from '@aws-sdk/client-s3';

/** A part S3 already holds: its ETag and size (and CRC64NVME, when the upload asked for that checksum). */
export interface StoredPart {
  etag: string;
  size: number;
  checksumCrc64Nvme?: string;
}

/** The parts of a multipart upload, by part number (ListParts, every page). */
export async function listUploadedParts(s3: S3Client, upload: { bucket: string; key: string; uploadId: string }): Promise<Map<number, StoredPart>> {
  const parts = new Map<number, StoredPart>();
  let marker: string | undefined;
  for (;;) {
    const page = await s3.send(new ListPartsCommand({ Bucket: upload.bucket, Key: upload.key, UploadId: upload.uploadId, PartNumberMarker: marker }));
    for (const part of page.Parts ?? []) {
      if (part.PartNumber !== undefined && part.ETag !== undefined) {
        parts.set(part.PartNumber, { etag: part.ETag, size: part.Size ?? -1, ...(part.ChecksumCRC64NVME && { checksumCrc64Nvme: part.ChecksumCRC64NVME }) });
      }
    }
    if (!page.IsTruncated || !page.NextPartNumberMarker) return parts;
    marker = page.NextPartNumberMarker;
  }
}
