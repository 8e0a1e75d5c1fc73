// The client factory: one setting (AWS_ENDPOINT_URL) reaches every client, with the local endpoint's needs, cached, traced in Lambda.
import { tracer } from '../../../../functions/lib/runtime/observability';
import * as clients from '../../../../functions/lib/runtime/clients';
import { glacierBodyChecksums, reusesBodyChecksums } from '../../../../functions/lib/glacier/body-checksums';

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
  jest.restoreAllMocks();
});

describe('aws-clients', () => {
  it('points S3 at the endpoint path-style and HealthOmics without host prefixes', async () => {
    const s3 = clients.s3Client({ endpoint: 'http://127.0.0.1:4999', region: 'eu-west-1' });
    expect(s3.config.forcePathStyle).toBe(true);
    expect((await s3.config.endpoint!()).hostname).toBe('127.0.0.1');
    const omics = clients.omicsClient({ endpoint: 'http://127.0.0.1:4999', region: 'eu-west-1' });
    expect(omics.config.disableHostPrefix).toBe(true);
  });

  it('gives the Glacier client the body checksums the vault upload computed, instead of the SDK hashing each part again', () => {
    const glacier = clients.glacierClient({ endpoint: 'http://127.0.0.1:4999', region: 'eu-west-1' });
    expect(glacier.config.bodyChecksumGenerator).toBe(glacierBodyChecksums);
    expect(reusesBodyChecksums(glacier)).toBe(true);
  });

  it('leaves the real endpoints alone without one (no path-style, host prefixes kept)', () => {
    delete process.env.AWS_ENDPOINT_URL;
    const s3 = clients.s3Client({ region: 'eu-central-1' });
    expect(s3.config.forcePathStyle).toBe(false);
    expect(clients.omicsClient({ region: 'eu-central-1' }).config.disableHostPrefix).toBe(false);
  });

  it('reads AWS_ENDPOINT_URL, and caches one client per endpoint and region', async () => {
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:4888';
    const a = clients.sqsClient({ region: 'ap-south-1' });
    expect(clients.sqsClient({ region: 'ap-south-1' })).toBe(a);
    expect((await a.config.endpoint!()).port).toBe(4888);
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:4889';
    expect(clients.sqsClient({ region: 'ap-south-1' })).not.toBe(a);
  });

  it('traces every client through Powertools inside a Lambda function, and only there', () => {
    const capture = jest.spyOn(tracer, 'captureAWSv3Client').mockImplementation((client) => client);
    clients.snsClient({ region: 'sa-east-1' });
    expect(capture).not.toHaveBeenCalled();
    process.env.AWS_LAMBDA_FUNCTION_NAME = 'omics-archiver-TriggerArchive';
    process.env.POWERTOOLS_TRACE_ENABLED = 'true';
    clients.snsClient({ region: 'ca-central-1' });
    expect(capture).toHaveBeenCalledTimes(1);
  });
});
