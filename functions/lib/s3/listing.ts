// Lists a prefix with URL-encoded keys, so keys holding characters XML 1.0 cannot carry arrive intact, and decodes them.
import { paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';

/** One object of a listing, its key decoded. */
export interface ListedS3Object {
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
}

/** A listed key that does not decode to UTF-8: no request could name that object, so the listing cannot go on. */
export class UndecodableKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UndecodableKey';
  }
}

/**
 * Decodes a key S3 listed with `encoding-type=url`: S3 form-encodes it (a space as `+`, a `+` as `%2B`), as botocore
 * knows when it decodes its own listings with `unquote_plus`. Throws UndecodableKeyError, naming the key as listed
 * and where, for a percent sequence that is malformed or not UTF-8.
 */
export function decodeListedKey(encoded: string, where: string): string {
  try {
    return decodeURIComponent(encoded.replace(/\+/g, ' '));
  } catch {
    throw new UndecodableKeyError(`the listing of ${where} has a key that is not URL-encoded UTF-8: "${encoded.slice(0, 1100)}" (as listed)`);
  }
}

/**
 * Every object under the prefix, in listing order. Without `encoding-type=url` a key with a control character (S3
 * allows any UTF-8) would reach the XML parser as a character XML 1.0 forbids; with it, S3 says so in the response's
 * EncodingType, and only then are the keys decoded (a server that ignores the parameter sends them plain).
 */
export async function* listObjects(s3: S3Client, bucket: string, prefix: string): AsyncGenerator<ListedS3Object> {
  const where = `s3://${bucket}/${prefix}`;
  for await (const page of paginateListObjectsV2({ client: s3, pageSize: 1000 }, { Bucket: bucket, Prefix: prefix, EncodingType: 'url' })) {
    const encoded = page.EncodingType === 'url';
    for (const object of page.Contents ?? []) {
      const key = object.Key ?? '';
      yield { key: encoded ? decodeListedKey(key, where) : key, size: object.Size ?? 0, etag: object.ETag, lastModified: object.LastModified };
    }
  }
}
