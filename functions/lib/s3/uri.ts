// S3 addresses as the archiver writes them: `s3://bucket/prefix` URIs and the CopySource of server-side copies.

export interface S3Location {
  bucket: string;
  /** Key prefix, empty or ending in `/`. */
  prefix: string;
}

/** Parses `s3://bucket/prefix`; the prefix is treated as a folder. */
export function parseS3Uri(uri: string): S3Location {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!match) throw new Error(`not an s3:// URI: "${uri}"`);
  const prefix = match[2] && !match[2].endsWith('/') ? `${match[2]}/` : match[2];
  return { bucket: match[1], prefix };
}

/** The `CopySource` of CopyObject and UploadPartCopy: bucket and URL-encoded key (slashes kept), and the version if pinned. */
export function copySource(bucket: string, key: string, versionId?: string): string {
  return `${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}${versionId ? `?versionId=${encodeURIComponent(versionId)}` : ''}`;
}
