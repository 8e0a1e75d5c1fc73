// The bundle's tar layout: headers any tar reader accepts (tar-stream, GNU tar), offsets where the data really is, sizes known in advance.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import {
  TAR_BLOCK,
  TAR_END_BYTES,
  memberFootprint,
  memberHeaderBytes,
  memberHeaders,
  paddingAfter,
  tarLayout,
  type TarEntry,
} from '../../../../functions/lib/bundle/tar';
import { testBytes } from '../../../local/glacier/helpers';

/** A whole tar in memory, from the layout's own pieces: what the bundle stream writes, byte for byte. */
function tarOf(members: { entry: TarEntry; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const { entry, data } of members) parts.push(memberHeaders(entry), data, Buffer.alloc(paddingAfter(entry.size)));
  parts.push(Buffer.alloc(TAR_END_BYTES));
  return Buffer.concat(parts);
}

async function readBack(tar: Buffer): Promise<{ name: string; size: number; mtime: number; type: string; data: Buffer }[]> {
  const entries: { name: string; size: number; mtime: number; type: string; data: Buffer }[] = [];
  const reader = extract();
  reader.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: unknown) => void chunks.push(chunk as Buffer));
    stream.on('end', () => {
      entries.push({
        name: header.name,
        size: header.size ?? -1,
        mtime: (header.mtime?.getTime() ?? 0) / 1000,
        type: header.type ?? '',
        data: Buffer.concat(chunks),
      });
      next();
    });
    stream.resume();
  });
  await new Promise<void>((resolve, reject) => {
    reader.on('finish', resolve);
    reader.on('error', reject);
    Readable.from([tar]).pipe(reader);
  });
  return entries;
}

const LONG = `out/${'deep/'.repeat(30)}qc-report.html`;
const MEMBERS: { entry: TarEntry; data: Buffer }[] = [
  { path: 'out/qc/sample1.html', size: 10_000 },
  { path: 'out/empty.done', size: 0 },
  { path: 'out/exactly-one-block.txt', size: TAR_BLOCK },
  { path: LONG, size: 777 },
  { path: 'out/calls/échantillon ü 样本.vcf', size: 1234 },
  { path: `out/${'n'.repeat(96)}`, size: 1 },
  { path: `out/${'n'.repeat(97)}`, size: 2 },
].map((e, i) => ({ entry: { ...e, mtime: 1_767_225_600 + i }, data: testBytes(e.size, i + 1) }));

describe('tar layout', () => {
  test('tar-stream reads every member back: name, size, mtime and bytes, long and non-ASCII paths through PAX', async () => {
    const entries = await readBack(tarOf(MEMBERS));
    expect(entries.map((e) => e.name)).toEqual(MEMBERS.map((m) => m.entry.path));
    for (const [i, entry] of entries.entries()) {
      expect(entry).toMatchObject({ size: MEMBERS[i].entry.size, mtime: MEMBERS[i].entry.mtime, type: 'file' });
      expect(entry.data.equals(MEMBERS[i].data)).toBe(true);
    }
  });

  test('GNU tar lists and extracts it without a warning, every file byte for byte', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle-tar-'));
    try {
      const file = path.join(dir, 'bundle.tar');
      fs.writeFileSync(file, tarOf(MEMBERS));
      const list = spawnSync('tar', ['-tvf', file], { encoding: 'utf8' });
      expect(list.stderr).toBe('');
      expect(list.status).toBe(0);
      expect(list.stdout.trim().split('\n')).toHaveLength(MEMBERS.length);
      const names = spawnSync('tar', ['-tf', file], { encoding: 'utf8' }).stdout.trim().split('\n');
      expect(names).toEqual(MEMBERS.map((m) => m.entry.path));
      const into = path.join(dir, 'x');
      fs.mkdirSync(into);
      const extracted = spawnSync('tar', ['-xf', file, '-C', into], { encoding: 'utf8' });
      expect(extracted.stderr).toBe('');
      for (const { entry, data } of MEMBERS) {
        const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
        expect(sha(fs.readFileSync(path.join(into, entry.path)))).toBe(sha(data));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the layout says where each member’s data is and how big the archive is, without building it', () => {
    const tar = tarOf(MEMBERS);
    const layout = tarLayout(MEMBERS.map((m) => m.entry));
    expect(layout.size).toBe(tar.length);
    expect(layout.size % TAR_BLOCK).toBe(0);
    for (const [i, { entry, data }] of MEMBERS.entries()) {
      expect(tar.subarray(layout.offsets[i], layout.offsets[i] + entry.size).equals(data)).toBe(true);
      expect(memberHeaderBytes(entry.path)).toBe(memberHeaders(entry).length);
      expect(memberFootprint(entry)).toBe(memberHeaders(entry).length + entry.size + paddingAfter(entry.size));
    }
    // A plain ustar header for a short ASCII path; a PAX header, its record and the ustar header for the rest.
    expect(memberHeaderBytes('out/qc/sample1.html')).toBe(TAR_BLOCK);
    expect(memberHeaderBytes(`out/${'n'.repeat(96)}`)).toBe(TAR_BLOCK);
    expect(memberHeaderBytes(`out/${'n'.repeat(97)}`)).toBe(3 * TAR_BLOCK);
    expect(memberHeaderBytes('out/é.txt')).toBe(3 * TAR_BLOCK);
    expect(tarLayout([]).size).toBe(TAR_END_BYTES);
  });

  test('a PAX record counts its own length digits, at the edges where the count gains a digit', async () => {
    // A record is "<length> path=<value>\n"; the rest after the digits is 7 bytes plus the value. At 97 bytes of rest the
    // length is 99; at 98 it is 100 (three digits); at 996, 999; at 997, 1001.
    for (const rest of [96, 97, 98, 995, 996, 997]) {
      const entry = { path: `é${'x'.repeat(rest - 7 - 2)}`, size: 3, mtime: 0 };
      const headers = memberHeaders(entry);
      const record = headers.subarray(TAR_BLOCK, TAR_BLOCK + Number.parseInt(headers.subarray(124, 135).toString('ascii'), 8)).toString('utf8');
      const length = Number(record.split(' ')[0]);
      expect(Buffer.byteLength(record)).toBe(length);
      expect(length).toBe(rest + String(length).length);
      const [read] = await readBack(tarOf([{ entry, data: Buffer.from('abc') }]));
      expect(read.name).toBe(entry.path);
      expect(read.data.toString()).toBe('abc');
    }
  });
});
