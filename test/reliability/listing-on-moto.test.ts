// Hostile keys through a real S3 listing (moto_server): what the URL-encoded listing the plan uses gives back.
import { CreateBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { listObjects } from '../../functions/lib/s3/listing';
import { startMoto, type MotoServer } from '../../local/moto';
import { freePort } from '../../local/local-cloud';

let moto: MotoServer;
let s3: S3Client;

beforeAll(async () => {
  const port = await freePort();
  moto = await startMoto({ port, frontDoorPort: port });
  s3 = new S3Client({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    forcePathStyle: true,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  await s3.send(new CreateBucketCommand({ Bucket: 'outputs' }));
}, 60_000);

afterAll(async () => {
  s3?.destroy();
  await moto?.stop();
});

it('gives back keys with control characters, spaces, plus and percent signs, non-ASCII and `..` segments exactly', async () => {
  // A CR LF key is in the unit test only: moto_server (werkzeug's routing) answers 404 to a PUT of one, which S3 takes.
  const keys = [
    'out/1/a\u0001b\u0007c.txt',
    'out/1/tab\there.txt',
    'out/1/sample 1+2%25.bam',
    'out/1/样本/ü.vcf',
    'out/1/../../escape/./x.bam',
    'out/1/🧬.bam',
  ];
  for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: 'outputs', Key: key, Body: key }));
  const listed: string[] = [];
  for await (const object of listObjects(s3, 'outputs', 'out/1/')) listed.push(object.key);
  expect(listed.sort()).toEqual([...keys].sort());
  // The keys came URL-encoded, so the XML carried no control character, and listObjects decoded them.
  const raw = await s3.send(new ListObjectsV2Command({ Bucket: 'outputs', Prefix: 'out/1/', EncodingType: 'url' }));
  expect(raw.EncodingType).toBe('url');
  expect(raw.Contents?.map((o) => o.Key)).toContain('out/1/a%01b%07c.txt');
});
