// The restore event's message: failed files first, at most 100 of them, and always under SNS's message size limit.
import { RESTORE_EVENT_MAX_BYTES } from '../../../../functions/lib/contract';
import { MAX_EVENT_FILES, restoreEvent } from '../../../../functions/lib/restore/finalize-restore';

const UUID = '0f3c2a1b-1111-4222-8333-444455556666';
const context = { runId: '1234567', tier: 'clinical', retrievalTier: 'Standard', destination: 's3://restores/', completedAt: '2026-01-01T00:00:00.000Z' };

const files = (count: number, state: string, extra = '') =>
  Array.from({ length: count }, (_, i) => ({
    path: `out/${extra}${state.toLowerCase()}-${i}.bam`,
    state,
    destination: `s3://restores/out/${extra}${state.toLowerCase()}-${i}.bam`,
    ...(state === 'FAILED' ? { failureReason: `CopyFailed: ${'x'.repeat(extra ? 990 : 10)}` } : {}),
  }));

describe('restoreEvent', () => {
  it(`lists at most ${MAX_EVENT_FILES} files, the failed ones first, and says how many it left out and where they are`, () => {
    const all = [...files(140, 'RESTORED'), ...files(10, 'FAILED')];
    const event = restoreEvent({ restoreId: 'r-1', runUuid: UUID, state: 'FAILED', restored: 140, failed: 10 }, all, { ...context, fileCount: 150 });
    expect(event.event).toBe('RESTORE_FAILED');
    expect(event.files).toHaveLength(MAX_EVENT_FILES);
    expect(event.files.slice(0, 10).every((f) => f.state === 'FAILED')).toBe(true);
    expect(event.filesOmitted).toEqual({ count: 50, seeIndex: expect.stringContaining(`omics-archiver runs show ${UUID} --json (restore r-1)`) as string });
  });

  it('cuts the list further when long paths and reasons would pass the byte bound', () => {
    // Each failed file is about 3 KB here (a 1,000-character reason, path and destination of ~1 KB each): 100 of them would be ~300 KB.
    const long = 'p'.repeat(1000) + '/';
    const all = files(300, 'FAILED', long);
    const event = restoreEvent({ restoreId: 'r-1', runUuid: UUID, state: 'FAILED', restored: 0, failed: 300 }, all, { ...context, fileCount: 300 });
    const bytes = Buffer.byteLength(JSON.stringify(event));
    expect(bytes).toBeLessThanOrEqual(RESTORE_EVENT_MAX_BYTES);
    expect(event.files.length).toBeGreaterThan(0);
    expect(event.files.length).toBeLessThan(MAX_EVENT_FILES);
    expect(event.filesOmitted?.count).toBe(300 - event.files.length);
  });

  it('is RESTORE_COMPLETED with every file when all came back', () => {
    const event = restoreEvent({ restoreId: 'r-1', runUuid: UUID, state: 'RESTORED', restored: 3, failed: 0 }, files(3, 'RESTORED'), {
      ...context,
      fileCount: 3,
    });
    expect(event).toMatchObject({ event: 'RESTORE_COMPLETED', state: 'RESTORED', fileCount: 3, restored: 3, failed: 0 });
    expect(event.files).toHaveLength(3);
    expect(event.filesOmitted).toBeUndefined();
  });
});
