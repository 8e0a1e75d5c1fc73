// Conformance: retrieval and inventory jobs, ranged job output with tree hashes, timing, SNS notifications, faults.
import {
  CreateVaultCommand,
  DeleteArchiveCommand,
  DescribeJobCommand,
  GetJobOutputCommand,
  GetVaultNotificationsCommand,
  DeleteVaultNotificationsCommand,
  InitiateJobCommand,
  ListJobsCommand,
  SetVaultNotificationsCommand,
  UploadArchiveCommand,
  type JobParameters,
} from '@aws-sdk/client-glacier';
import { treeHashOf } from '../../../functions/lib/glacier/tree-hash';
import { MIB, bodyBytes, expectGlacierError, startLocalGlacier, testBytes, waitFor, type LocalGlacier } from './helpers';

let g: LocalGlacier;
const vaultName = 'jobs';
const base = { accountId: '-', vaultName };
const topic = 'arn:aws:sns:us-east-1:123456789012:restores';
const data = testBytes(5.5 * MIB, 11);
let archiveId: string;

beforeAll(async () => {
  // Long delays: tests finish jobs with completeJobNow unless they are testing the timer itself.
  g = await startLocalGlacier({ jobDelayMs: { Expedited: 60_000, Standard: 60_000, Bulk: 60_000, inventory: 60_000 } });
  await g.glacier.send(new CreateVaultCommand(base));
  ({ archiveId } = (await g.glacier.send(new UploadArchiveCommand({ ...base, body: data, archiveDescription: 'sample run output' }))) as {
    archiveId: string;
  });
});
afterAll(() => g.stop());
beforeEach(() => g.publish.mockClear());

const hex = (bytes: Uint8Array) => treeHashOf(bytes).toString('hex');

async function startJob(params: Partial<JobParameters> = {}) {
  const { jobId } = await g.glacier.send(
    new InitiateJobCommand({ ...base, jobParameters: { Type: 'archive-retrieval', ArchiveId: archiveId, Tier: 'Standard', ...params } }),
  );
  return jobId!;
}

const output = async (jobId: string, range?: string) => {
  const result = await g.glacier.send(new GetJobOutputCommand({ ...base, jobId, range }));
  return { ...result, bytes: await bodyBytes(result.body) };
};

describe('archive retrieval', () => {
  it('is in progress until it completes, refusing its output meanwhile, then publishes the DescribeJob document', async () => {
    const jobId = await startJob({ SNSTopic: topic, Description: 'restore one file' });
    const pending = await g.glacier.send(new DescribeJobCommand({ ...base, jobId }));
    expect(pending).toMatchObject({
      StatusCode: 'InProgress',
      Completed: false,
      Action: 'ArchiveRetrieval',
      Tier: 'Standard',
      ArchiveSizeInBytes: data.length,
    });
    expect(pending.SHA256TreeHash).toBeUndefined();
    await expectGlacierError(
      g.glacier.send(new GetJobOutputCommand({ ...base, jobId })),
      'InvalidParameterValueException',
      `The job is not currently available for download: ${jobId}`,
    );

    await g.emulator.completeJobNow(jobId);
    const { $metadata, ...done } = await g.glacier.send(new DescribeJobCommand({ ...base, jobId }));
    expect($metadata.httpStatusCode).toBe(200);
    expect(done).toMatchObject({
      StatusCode: 'Succeeded',
      Completed: true,
      SHA256TreeHash: hex(data),
      ArchiveSHA256TreeHash: hex(data),
      RetrievalByteRange: `0-${data.length - 1}`,
      JobDescription: 'restore one file',
      SNSTopic: topic,
    });
    expect(g.publish).toHaveBeenCalledTimes(1);
    const [publishedTopic, message] = g.publish.mock.calls[0];
    expect(publishedTopic).toBe(topic);
    expect(JSON.parse(message)).toMatchObject({ ...done, JobId: jobId });
  });

  it('serves the whole output and tree-hash aligned ranges with checksums, 206 and Content-Range', async () => {
    const jobId = await startJob();
    await g.emulator.completeJobNow(jobId);

    const whole = await output(jobId);
    expect(whole.status).toBe(200);
    expect(whole.bytes.equals(data)).toBe(true);
    expect(whole.checksum).toBe(hex(data));
    expect(whole.acceptRanges).toBe('bytes');
    expect(whole.contentType).toBe('application/octet-stream');
    expect(whole.archiveDescription).toBe('sample run output');

    const cases: [string, number, number, boolean][] = [
      ['bytes=0-1048575', 0, MIB, true],
      ['bytes=0-4194303', 0, 4 * MIB, true],
      ['bytes=4194304-5767167', 4 * MIB, data.length, true], // the right-hand subtree [4 MiB, end)
      ['bytes=1048576-3145727', MIB, 3 * MIB, false], // megabyte aligned, not a node of the tree
      ['bytes=100-199', 100, 200, false],
    ];
    for (const [range, start, end, aligned] of cases) {
      const part = await output(jobId, range);
      expect(part.status).toBe(206);
      expect(part.contentRange).toBe(`bytes ${start}-${end - 1}/${data.length}`);
      expect(part.bytes.equals(data.subarray(start, end))).toBe(true);
      expect(part.checksum).toBe(aligned ? hex(data.subarray(start, end)) : undefined);
    }
  });

  it('validates RetrievalByteRange: megabyte aligned, with checksums only for tree-hash aligned ranges', async () => {
    for (const range of ['0-1000', '1-1048576', `0-${data.length}`, '2097152-1048575', 'all']) {
      await expectGlacierError(startJob({ RetrievalByteRange: range }), 'InvalidParameterValueException', /RetrievalByteRange/);
    }
    const aligned = await startJob({ RetrievalByteRange: '2097152-4194303' });
    const described = await g.glacier.send(new DescribeJobCommand({ ...base, jobId: aligned }));
    expect(described.SHA256TreeHash).toBe(hex(data.subarray(2 * MIB, 4 * MIB)));
    await g.emulator.completeJobNow(aligned);
    const out = await output(aligned);
    expect(out.bytes.equals(data.subarray(2 * MIB, 4 * MIB))).toBe(true);
    expect(out.checksum).toBe(hex(data.subarray(2 * MIB, 4 * MIB)));
    const firstMiB = await output(aligned, 'bytes=0-1048575'); // relative to the retrieved range: archive MiB 2
    expect(firstMiB.checksum).toBe(hex(data.subarray(2 * MIB, 3 * MIB)));

    const notTreeAligned = await startJob({ RetrievalByteRange: '1048576-3145727' });
    expect((await g.glacier.send(new DescribeJobCommand({ ...base, jobId: notTreeAligned }))).SHA256TreeHash).toBeUndefined();
    await g.emulator.completeJobNow(notTreeAligned);
    const loose = await output(notTreeAligned);
    expect(loose.bytes.equals(data.subarray(MIB, 3 * MIB))).toBe(true);
    expect(loose.checksum).toBeUndefined();

    const toTheEnd = await startJob({ RetrievalByteRange: `5242880-${data.length - 1}` });
    await g.emulator.completeJobNow(toTheEnd);
    expect((await output(toTheEnd)).checksum).toBe(hex(data.subarray(5 * MIB)));
  });

  it('keeps a completed job output after the archive is deleted', async () => {
    const { archiveId: doomed } = await g.glacier.send(new UploadArchiveCommand({ ...base, body: testBytes(3000, 12) }));
    const jobId = await startJob({ ArchiveId: doomed });
    await g.glacier.send(new DeleteArchiveCommand({ ...base, archiveId: doomed }));
    await g.emulator.completeJobNow(jobId);
    expect((await output(jobId)).bytes.equals(testBytes(3000, 12))).toBe(true);
  });

  it('answers unknown jobs, archives and vaults with ResourceNotFoundException', async () => {
    await expectGlacierError(g.glacier.send(new DescribeJobCommand({ ...base, jobId: 'nope' })), 'ResourceNotFoundException', 'The job ID was not found: nope');
    await expectGlacierError(g.glacier.send(new GetJobOutputCommand({ ...base, jobId: 'nope' })), 'ResourceNotFoundException');
    await expectGlacierError(startJob({ ArchiveId: 'nope' }), 'ResourceNotFoundException', 'The archive ID was not found: nope');
    await expectGlacierError(
      g.glacier.send(new DescribeJobCommand({ accountId: '-', vaultName: 'nope', jobId: 'x' })),
      'ResourceNotFoundException',
      /^Vault not found for ARN/,
    );
    await expectGlacierError(startJob({ Tier: 'Fastest' }), 'InvalidParameterValueException', /Invalid Tier/);
    await expectGlacierError(startJob({ ArchiveId: undefined }), 'MissingParameterValueException');
  });
});

describe('Expedited capacity', () => {
  it('refuses the next Expedited retrievals with InsufficientCapacityException when told to, and never Standard or Bulk ones', async () => {
    g.emulator.refuseExpedited(2);
    await expectGlacierError(startJob({ Tier: 'Expedited' }), 'InsufficientCapacityException', /insufficient capacity/);
    // Only Expedited requests are refused: the Standard one in between does not use up a refusal.
    const standard = await startJob({ Tier: 'Standard' });
    expect((await g.glacier.send(new DescribeJobCommand({ ...base, jobId: standard }))).Tier).toBe('Standard');
    await expectGlacierError(startJob({ Tier: 'Expedited' }), 'InsufficientCapacityException');
    const expedited = await startJob({ Tier: 'Expedited' });
    expect((await g.glacier.send(new DescribeJobCommand({ ...base, jobId: expedited }))).Tier).toBe('Expedited');
  });
});

describe('job timing and notifications', () => {
  it('completes after the tier delay and publishes to the vault topic and the job topic', async () => {
    const quick = await startLocalGlacier({ jobDelayMs: { Expedited: 30, Bulk: 60_000 } });
    try {
      await quick.glacier.send(new CreateVaultCommand(base));
      const vaultTopic = 'arn:aws:sns:us-east-1:123456789012:vault-events';
      await quick.glacier.send(
        new SetVaultNotificationsCommand({ ...base, vaultNotificationConfig: { SNSTopic: vaultTopic, Events: ['ArchiveRetrievalCompleted'] } }),
      );
      expect((await quick.glacier.send(new GetVaultNotificationsCommand(base))).vaultNotificationConfig).toEqual({
        SNSTopic: vaultTopic,
        Events: ['ArchiveRetrievalCompleted'],
      });
      const { archiveId: id } = await quick.glacier.send(new UploadArchiveCommand({ ...base, body: testBytes(MIB + 1) }));
      const slow = await quick.glacier.send(new InitiateJobCommand({ ...base, jobParameters: { Type: 'archive-retrieval', ArchiveId: id, Tier: 'Bulk' } }));
      const fast = await quick.glacier.send(
        new InitiateJobCommand({ ...base, jobParameters: { Type: 'archive-retrieval', ArchiveId: id, Tier: 'Expedited', SNSTopic: topic } }),
      );
      await waitFor(() => quick.publish.mock.calls.length >= 2);
      expect(quick.publish.mock.calls.map(([t]) => t).sort()).toEqual([topic, vaultTopic].sort());
      for (const [, message] of quick.publish.mock.calls) expect(JSON.parse(message)).toMatchObject({ JobId: fast.jobId, StatusCode: 'Succeeded' });
      expect((await quick.glacier.send(new DescribeJobCommand({ ...base, jobId: slow.jobId }))).StatusCode).toBe('InProgress');

      await quick.glacier.send(new DeleteVaultNotificationsCommand(base));
      await expectGlacierError(quick.glacier.send(new GetVaultNotificationsCommand(base)), 'ResourceNotFoundException');
    } finally {
      await quick.stop();
    }
  });

  it('suppressNotification completes the job without publishing', async () => {
    const jobId = await startJob({ SNSTopic: topic });
    g.emulator.suppressNotification(jobId);
    await g.emulator.completeJobNow(jobId);
    expect((await g.glacier.send(new DescribeJobCommand({ ...base, jobId }))).StatusCode).toBe('Succeeded');
    expect(g.publish).not.toHaveBeenCalled();
  });

  it('survives a failing publish', async () => {
    g.publish.mockRejectedValueOnce(new Error('topic does not exist'));
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const jobId = await startJob({ SNSTopic: topic });
    await g.emulator.completeJobNow(jobId);
    expect((await g.glacier.send(new DescribeJobCommand({ ...base, jobId }))).StatusCode).toBe('Succeeded');
    expect(warn).toHaveBeenCalled();
    warn.mockRestore();
  });

  it('corruptJobOutput flips one byte while the tree hash header still describes the true bytes', async () => {
    const jobId = await startJob();
    await g.emulator.completeJobNow(jobId);
    g.emulator.corruptJobOutput(jobId, MIB + 5);
    const range = await output(jobId, 'bytes=1048576-2097151');
    const expected = data.subarray(MIB, 2 * MIB);
    expect(range.checksum).toBe(hex(expected));
    expect(hex(range.bytes)).not.toBe(range.checksum);
    const differing = [...range.bytes].flatMap((b, i) => (b === expected[i] ? [] : [i]));
    expect(differing).toEqual([5]);
    expect((await output(jobId, 'bytes=0-1048575')).bytes.equals(data.subarray(0, MIB))).toBe(true);
  });
});

describe('ListJobs and inventory', () => {
  it('lists jobs with completed and statuscode filters and pagination', async () => {
    const all: string[] = [];
    let marker: string | undefined;
    do {
      const page = await g.glacier.send(new ListJobsCommand({ ...base, limit: 2, marker }));
      expect(page.JobList!.length).toBeLessThanOrEqual(2);
      all.push(...page.JobList!.map((j) => j.JobId!));
      marker = page.Marker ?? undefined;
    } while (marker);
    expect(new Set(all).size).toBe(all.length);
    const done = await g.glacier.send(new ListJobsCommand({ ...base, completed: 'true' }));
    const pending = await g.glacier.send(new ListJobsCommand({ ...base, statuscode: 'InProgress' }));
    expect(done.JobList!.every((j) => j.Completed)).toBe(true);
    expect(pending.JobList!.every((j) => j.StatusCode === 'InProgress')).toBe(true);
    expect(done.JobList!.length + pending.JobList!.length).toBe(all.length);
    await expectGlacierError(
      g.glacier.send(new ListJobsCommand({ ...base, statuscode: 'finished' })),
      'InvalidParameterValueException',
      'The job status code is not valid: finished',
    );
  });

  it('returns the vault inventory as JSON or CSV', async () => {
    const { jobId } = await g.glacier.send(new InitiateJobCommand({ ...base, jobParameters: { Type: 'inventory-retrieval' } }));
    await g.emulator.completeJobNow(jobId!);
    const json = await output(jobId!);
    expect(json.contentType).toBe('application/json');
    expect(json.checksum).toBeUndefined();
    const inventory = JSON.parse(json.bytes.toString('utf8')) as { VaultARN: string; ArchiveList: unknown[] };
    expect(inventory.VaultARN).toBe('arn:aws:glacier:us-east-1:123456789012:vaults/jobs');
    expect(inventory.ArchiveList).toContainEqual(
      expect.objectContaining({ ArchiveId: archiveId, Size: data.length, SHA256TreeHash: hex(data), ArchiveDescription: 'sample run output' }),
    );
    const described = await g.glacier.send(new DescribeJobCommand({ ...base, jobId }));
    expect(described).toMatchObject({ Action: 'InventoryRetrieval', InventorySizeInBytes: json.bytes.length, StatusCode: 'Succeeded' });

    const csvJob = await g.glacier.send(new InitiateJobCommand({ ...base, jobParameters: { Type: 'inventory-retrieval', Format: 'CSV' } }));
    await g.emulator.completeJobNow(csvJob.jobId!);
    const csv = (await output(csvJob.jobId!)).bytes.toString('utf8').split('\n');
    expect(csv[0]).toBe('ArchiveId,ArchiveDescription,CreationDate,Size,SHA256TreeHash');
    expect(csv.some((line) => line.startsWith(`${archiveId},sample run output,`))).toBe(true);
  });
});

describe('what Glacier forgets, and jobs that fail', () => {
  it('a retrieval told to fail ends Failed, announces it with StatusCode Failed and its message, and has no output', async () => {
    g.emulator.failRetrievals(1, 'archive unreadable (test)');
    const jobId = await startJob({ SNSTopic: topic });
    await g.emulator.completeJobNow(jobId);
    expect(await g.glacier.send(new DescribeJobCommand({ ...base, jobId }))).toMatchObject({
      StatusCode: 'Failed',
      StatusMessage: 'archive unreadable (test)',
      Completed: true,
    });
    const [[publishedTo, message]] = g.publish.mock.calls;
    expect(publishedTo).toBe(topic);
    expect(JSON.parse(message)).toMatchObject({ JobId: jobId, StatusCode: 'Failed', StatusMessage: 'archive unreadable (test)' });
    await expectGlacierError(output(jobId), 'InvalidParameterValueException', /not currently available/);
    // Only that one: the next retrieval succeeds.
    const next = await startJob();
    await g.emulator.completeJobNow(next);
    expect((await g.glacier.send(new DescribeJobCommand({ ...base, jobId: next }))).StatusCode).toBe('Succeeded');
  });

  it('job output is gone 24 hours after the job completed (by the emulator clock): ResourceNotFoundException', async () => {
    const quick = await startLocalGlacier();
    try {
      await quick.glacier.send(new CreateVaultCommand(base));
      const { archiveId: id } = await quick.glacier.send(new UploadArchiveCommand({ ...base, body: testBytes(MIB, 12) }));
      const { jobId } = await quick.glacier.send(new InitiateJobCommand({ ...base, jobParameters: { Type: 'archive-retrieval', ArchiveId: id } }));
      await quick.emulator.completeJobNow(jobId!);
      quick.emulator.advanceClock(23 * 60 * 60 * 1000);
      expect((await quick.glacier.send(new GetJobOutputCommand({ ...base, jobId, range: 'bytes=0-9' }))).status).toBe(206);
      quick.emulator.advanceClock(2 * 60 * 60 * 1000);
      await expectGlacierError(quick.glacier.send(new GetJobOutputCommand({ ...base, jobId })), 'ResourceNotFoundException');
      await expectGlacierError(quick.glacier.send(new DescribeJobCommand({ ...base, jobId })), 'ResourceNotFoundException');
    } finally {
      await quick.stop();
    }
  });

  it('an account without vault access gets NoLongerSupportedException for every request', async () => {
    const closed = await startLocalGlacier({ vaultAccess: false });
    try {
      await expectGlacierError(closed.glacier.send(new CreateVaultCommand(base)), 'NoLongerSupportedException', /no longer supported for new accounts/);
      closed.emulator.setVaultAccess(true);
      await closed.glacier.send(new CreateVaultCommand(base));
    } finally {
      await closed.stop();
    }
  });
});
