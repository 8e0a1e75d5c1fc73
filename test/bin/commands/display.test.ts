// Unit tests for the operator commands' shared output helpers.
import { bufferIO, checkRunRef, fieldTable, formatBytes, isRunId, shorten, table } from '../../../bin/commands/display';

describe('display helpers', () => {
  it('formats byte sizes in binary units, exact below 1 KiB', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(6 * 1024 * 1024 + 123)).toBe('6.0 MiB');
    expect(formatBytes(5 * 1024 ** 4)).toBe('5.0 TiB');
    expect(formatBytes(undefined)).toBe('-');
  });

  it('shortens long ids for tables only', () => {
    expect(shorten('a'.repeat(138), 16)).toBe(`${'a'.repeat(16)}…`);
    expect(shorten('short')).toBe('short');
    expect(shorten(undefined)).toBe('-');
  });

  it('tells run ids from uuids, and refuses anything else', () => {
    expect(isRunId('1234567')).toBe(true);
    expect(isRunId('0f3c5a9e-1b2d-4c3e-8f4a-5b6c7d8e9f01')).toBe(false);
    expect(() => checkRunRef('0f3c5a9e-1b2d-4c3e-8f4a-5b6c7d8e9f01')).not.toThrow();
    expect(() => checkRunRef('arn:aws:omics:us-east-1:123456789012:run/1234567')).toThrow(/neither a HealthOmics run id/);
  });

  it('draws plain tables without colour codes or lines between rows', () => {
    const text = table(
      ['a', 'b'],
      [
        ['1', 2],
        ['3', 4],
      ],
    );
    // eslint-disable-next-line no-control-regex -- looks for the ANSI escape (ESC [) that starts a colour code
    expect(text).not.toMatch(/\u001b\[/);
    expect(text.split('\n')).toHaveLength(5); // top, head, two rows, bottom
    // Long JSON folds; an ARN, however long, stays on one line so it can be copied.
    const json = JSON.stringify({ key: 'x'.repeat(300) });
    const folded = fieldTable([['json', json]]);
    expect(Math.max(...folded.split('\n').map((l) => l.length))).toBeLessThan(140);
    expect(folded.replace(/[^x]/g, '')).toHaveLength(300);
    const arn = `arn:aws:states:us-east-1:123456789012:execution:omics-archiver-ArchiveRun:run-1-${'u'.repeat(100)}`;
    expect(fieldTable([['executionArn', arn]])).toContain(arn);
  });

  it('collects output for tests', () => {
    const io = bufferIO();
    io.out('one');
    io.err('two');
    expect(io.stdout).toEqual(['one']);
    expect(io.stderr).toEqual(['two']);
    expect(io.interactive).toBe(false);
  });
});
