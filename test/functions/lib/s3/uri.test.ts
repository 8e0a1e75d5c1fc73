// Tests the S3 address helpers: s3:// URIs and CopySource.
import { copySource, parseS3Uri } from '../../../../functions/lib/s3/uri';

describe('parseS3Uri', () => {
  it('reads a bucket with no prefix, with or without a trailing slash', () => {
    expect(parseS3Uri('s3://amzn-s3-demo-bucket')).toEqual({ bucket: 'amzn-s3-demo-bucket', prefix: '' });
    expect(parseS3Uri('s3://amzn-s3-demo-bucket/')).toEqual({ bucket: 'amzn-s3-demo-bucket', prefix: '' });
  });

  it('treats the prefix as a folder, with or without a trailing slash', () => {
    expect(parseS3Uri('s3://bucket/output/7830534')).toEqual({ bucket: 'bucket', prefix: 'output/7830534/' });
    expect(parseS3Uri('s3://bucket/output/7830534/')).toEqual({ bucket: 'bucket', prefix: 'output/7830534/' });
    expect(parseS3Uri('s3://bucket/a b/ü/')).toEqual({ bucket: 'bucket', prefix: 'a b/ü/' });
  });

  it.each(['', 'bucket/key', 'https://bucket.s3.amazonaws.com/key', 's3:/bucket/key', 's3://', 's3:///key', 'S3://bucket/key'])('rejects %j', (uri) => {
    expect(() => parseS3Uri(uri)).toThrow('not an s3:// URI');
  });
});

describe('copySource', () => {
  it('encodes the key but keeps its slashes, and pins a version when given', () => {
    expect(copySource('b', 'out/a b/ü.bam')).toBe('b/out/a%20b/%C3%BC.bam');
    expect(copySource('b', 'out/x', 'v1+2')).toBe('b/out/x?versionId=v1%2B2');
  });
});
