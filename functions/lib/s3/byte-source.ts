// Ranged reads of one S3 object, pinned to the version (or ETag) the archiver planned with.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** Where the bytes come from: any source that can stream an inclusive byte range. */
export interface ByteSource {
  size: number;
  read(start: number, endInclusive: number): Promise<AsyncIterable<Uint8Array>>;
}

/** A ByteSource over one S3 object (pinned to a version when given), read with ranged GetObject calls. */
export function s3ByteSource(s3: S3Client, bucket: string, key: string, size: number, pin: { versionId?: string; etag?: string } = {}): ByteSource {
  return {
    size,
    async read(start, endInclusive) {
      // IfMatch pins the reads to one version of the object: a change mid-stream fails (PreconditionFailed)
      // instead of mixing two versions' bytes into one archive.
      const response = await s3.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: pin.versionId, IfMatch: pin.etag, Range: `bytes=${start}-${endInclusive}` }),
      );
      if (!response.Body) throw new Error(`s3://${bucket}/${key} returned no body for bytes ${start}-${endInclusive}`);
      if (response.ContentLength !== undefined && response.ContentLength !== endInclusive - start + 1) {
        throw new Error(`s3://${bucket}/${key} returned ${response.ContentLength} bytes for ${start}-${endInclusive}; the object changed?`);
      }
      return response.Body as AsyncIterable<Uint8Array>;
    },
  };
}

/** An output file's bytes as the plan saw them: ranged reads pinned to its ETag. */
export function pinnedSource(s3: S3Client, file: { sourceBucket: string; sourceKey: string; size: number; etag?: string }): ByteSource {
  return s3ByteSource(s3, file.sourceBucket, file.sourceKey, file.size, { etag: file.etag });
}
