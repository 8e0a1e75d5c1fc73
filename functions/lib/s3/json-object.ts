// Small JSON documents the archiver keeps in S3 beside its plans (bundle manifests, member digests, restore member lists).
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** Reads and parses one JSON object; the caller validates its shape. */
export async function readJsonObject(s3: S3Client, bucket: string, key: string): Promise<unknown> {
  const { Body } = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const chunks: Buffer[] = [];
  for await (const chunk of (Body as AsyncIterable<Uint8Array> | undefined) ?? []) chunks.push(Buffer.from(chunk));
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
}
