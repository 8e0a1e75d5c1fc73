// Unit tests for how a transfer's progress is written to the index and read back on resume.
import { checkpointCleared, checkpointProgress, progressChanges, recordedCheckpoint, type RecordedTransfer } from '../../../../functions/lib/transfer/progress';

/** The record an index write leaves: a value sets the attribute, null removes it. */
function recordAfter(changes: Record<string, unknown>): RecordedTransfer {
  const record: RecordedTransfer = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== null));
  return record;
}

describe('progressChanges', () => {
  it('writes the upload, how far it got and its checkpoint together', () => {
    expect(
      progressChanges({ uploadId: 'u1', partsDone: 3, bytesDone: 300, sha256State: 'sha', sha256Bytes: 300, treeHashState: 'tree' }, { treeHash: true }),
    ).toEqual({ uploadId: 'u1', partsDone: 3, bytesDone: 300, sha256State: 'sha', sha256Bytes: 300, treeHashState: 'tree' });
  });

  it('removes the recorded checkpoint (null) when the report carries none', () => {
    expect(progressChanges({ uploadId: 'u2', bytesDone: 0 }, { treeHash: true, crc64: true })).toEqual({
      uploadId: 'u2',
      bytesDone: 0,
      sha256State: null,
      sha256Bytes: null,
      treeHashState: null,
      crc64State: null,
    });
  });

  it('leaves partsDone as it is when the transfer does not count parts', () => {
    expect(progressChanges({ uploadId: 'u3', bytesDone: 10 }, {})).not.toHaveProperty('partsDone');
    expect(progressChanges({ uploadId: 'u3', partsDone: 0, bytesDone: 0 }, {})).toHaveProperty('partsDone', 0);
  });

  it('touches only the hash states the item keeps', () => {
    const changes = progressChanges({ uploadId: 'u4', bytesDone: 5, treeHashState: 'tree', crc64State: 'crc' }, {});
    expect(changes).not.toHaveProperty('treeHashState');
    expect(changes).not.toHaveProperty('crc64State');
    expect(progressChanges({ uploadId: 'u4', bytesDone: 5, crc64State: 'crc', sha256Bytes: 5 }, { crc64: true })).toEqual({
      uploadId: 'u4',
      bytesDone: 5,
      sha256State: null, // a copy without a SHA-256 keeps only the CRC64NVME state
      sha256Bytes: 5,
      crc64State: 'crc',
    });
  });
});

describe('checkpointCleared', () => {
  it('removes the SHA-256 checkpoint and each kept state, nothing else', () => {
    expect(checkpointCleared({})).toEqual({ sha256State: null, sha256Bytes: null });
    expect(checkpointCleared({ treeHash: true })).toEqual({ sha256State: null, sha256Bytes: null, treeHashState: null });
    expect(checkpointCleared({ crc64: true })).toEqual({ sha256State: null, sha256Bytes: null, crc64State: null });
    expect(checkpointCleared({ treeHash: true, crc64: true })).toEqual({ sha256State: null, sha256Bytes: null, treeHashState: null, crc64State: null });
  });
});

describe('recordedCheckpoint', () => {
  const full = { uploadId: 'u', sha256State: 'sha', sha256Bytes: 64, treeHashState: 'tree', crc64State: 'crc' };

  it('hands back the states the transfer keeps, with the bytes they cover', () => {
    expect(recordedCheckpoint(full, {})).toEqual({ bytes: 64, sha256State: 'sha' });
    expect(recordedCheckpoint(full, { treeHash: true })).toEqual({ bytes: 64, sha256State: 'sha', treeHashState: 'tree' });
    expect(recordedCheckpoint(full, { treeHash: true, crc64: true })).toEqual({ bytes: 64, sha256State: 'sha', treeHashState: 'tree', crc64State: 'crc' });
  });

  it('leaves out the SHA-256 for a transfer that computes none', () => {
    expect(recordedCheckpoint({ uploadId: 'u', sha256Bytes: 64, crc64State: 'crc' }, { sha256: false, crc64: true })).toEqual({ bytes: 64, crc64State: 'crc' });
    expect(recordedCheckpoint(full, { sha256: false, crc64: true })).toEqual({ bytes: 64, crc64State: 'crc' });
  });

  it.each([
    ['no record', undefined, {}],
    ['no upload', { sha256State: 'sha', sha256Bytes: 64 }, {}],
    ['no bytes covered', { uploadId: 'u', sha256State: 'sha' }, {}],
    ['no SHA-256 state when one is kept', { uploadId: 'u', sha256Bytes: 64 }, {}],
    ['no tree-hash state when one is kept', { uploadId: 'u', sha256State: 'sha', sha256Bytes: 64 }, { treeHash: true }],
    ['no CRC64NVME state when one is kept', { uploadId: 'u', sha256State: 'sha', sha256Bytes: 64 }, { crc64: true }],
    ['only a CRC64NVME state when a SHA-256 is kept too', { uploadId: 'u', sha256Bytes: 64, crc64State: 'crc' }, { crc64: true }],
  ])('is undefined with %s', (_name, record, options) => {
    expect(recordedCheckpoint(record, options)).toBeUndefined();
  });

  it('reads back what progressChanges wrote', () => {
    const progress = { uploadId: 'u9', bytesDone: 128, sha256State: 'sha', sha256Bytes: 128, treeHashState: 'tree' };
    const record = recordAfter(progressChanges(progress, { treeHash: true }));
    expect(recordedCheckpoint(record, { treeHash: true })).toEqual({ bytes: 128, sha256State: 'sha', treeHashState: 'tree' });
  });
});

describe('checkpointProgress', () => {
  it('is nothing without a checkpoint', () => {
    expect(checkpointProgress(undefined)).toEqual({});
  });

  it('carries the bytes as sha256Bytes with each state the checkpoint has', () => {
    expect(checkpointProgress({ bytes: 10, sha256State: 'sha' })).toEqual({ sha256Bytes: 10, sha256State: 'sha' });
    expect(checkpointProgress({ bytes: 20, crc64State: 'crc' })).toEqual({ sha256Bytes: 20, crc64State: 'crc' });
    expect(checkpointProgress({ bytes: 30, sha256State: 'sha', treeHashState: 'tree', crc64State: 'crc' })).toEqual({
      sha256Bytes: 30,
      sha256State: 'sha',
      treeHashState: 'tree',
      crc64State: 'crc',
    });
  });

  it('round-trips through progressChanges and recordedCheckpoint', () => {
    const checkpoint = { bytes: 40, sha256State: 'sha', crc64State: 'crc' };
    const written = progressChanges({ uploadId: 'u', bytesDone: 50, ...checkpointProgress(checkpoint) }, { crc64: true });
    expect(recordedCheckpoint(recordAfter(written), { crc64: true })).toEqual(checkpoint);
  });
});

describe('a report without a checkpoint after one with it', () => {
  it('leaves nothing to resume from: the old checkpoint does not outlive its upload', () => {
    const first = recordAfter(progressChanges({ uploadId: 'old', bytesDone: 64, sha256State: 'sha', sha256Bytes: 64 }, {}));
    const second = recordAfter({ ...first, ...progressChanges({ uploadId: 'new', bytesDone: 0 }, {}) });
    expect(second).toEqual({ uploadId: 'new', bytesDone: 0 });
    expect(recordedCheckpoint(second, {})).toBeUndefined();
  });
});
