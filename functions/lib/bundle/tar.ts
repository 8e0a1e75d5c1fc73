// The tar format a bundle is written in: POSIX ustar headers, with a PAX record for paths ustar cannot hold, and where each member's data sits.
//
// Uncompressed and laid out in advance: every header is known from the member's path, size and mtime alone, so the
// plan knows each member's offset and the bundle's exact size before a byte is read (a vault upload needs the size
// up front, and a restore reads one member by its offset). Any tar reader lists and extracts a bundle (GNU tar,
// bsdtar, Python's tarfile, tar-stream); test/functions/lib/bundle/tar.test.ts checks two of them.

/** Tar works in 512-byte blocks: each header is one, each member's data is padded to a whole number of them. */
export const TAR_BLOCK = 512;
/** Two zero blocks end the archive. */
export const TAR_END_BYTES = 2 * TAR_BLOCK;

/** What a member's headers are made of. */
export interface TarEntry {
  /** The member's name in the archive: its path in the run's output folder. */
  path: string;
  size: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
}

/** ustar's name field holds 100 bytes; longer or non-ASCII paths go in a PAX `path` record instead. */
const NAME_BYTES = 100;
/** The 11 octal digits of ustar's size field: up to 8 GiB - 1, far above any member (BUNDLE_LIMITS.maxMemberBytes). */
const MAX_OCTAL_SIZE = 8 ** 11 - 1;

const padded = (bytes: number) => Math.ceil(bytes / TAR_BLOCK) * TAR_BLOCK;

/** Whether ustar's own name field can carry the path: printable ASCII of at most 100 bytes. */
function fitsUstarName(path: string): boolean {
  return Buffer.byteLength(path) <= NAME_BYTES && /^[\x20-\x7e]+$/.test(path);
}

/** `value` as `digits` octal digits and a NUL, as ustar's numeric fields are written. */
function octal(value: number, digits: number): string {
  return `${Math.trunc(value).toString(8).padStart(digits, '0')}\0`;
}

/** One 512-byte ustar header block. */
function ustarHeader(fields: { name: string; size: number; mtime: number; type: '0' | 'x' }): Buffer {
  if (fields.size > MAX_OCTAL_SIZE) throw new RangeError(`a tar member of ${fields.size} bytes does not fit ustar's size field`);
  const header = Buffer.alloc(TAR_BLOCK);
  header.write(fields.name, 0, NAME_BYTES, 'latin1');
  header.write(octal(0o644, 7), 100, 8, 'ascii');
  header.write(octal(0, 7), 108, 8, 'ascii'); // uid
  header.write(octal(0, 7), 116, 8, 'ascii'); // gid
  header.write(octal(fields.size, 11), 124, 12, 'ascii');
  header.write(octal(Math.max(0, fields.mtime), 11), 136, 12, 'ascii');
  header.write(fields.type, 156, 1, 'ascii');
  header.write('ustar\0', 257, 6, 'ascii');
  header.write('00', 263, 2, 'ascii');
  // The checksum is the sum of the header's bytes with its own field read as eight spaces.
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return header;
}

/** A PAX extended-header record, `<length> <key>=<value>\n`, where the length counts its own digits too. */
function paxRecord(key: string, value: string): Buffer {
  const rest = ` ${key}=${value}\n`;
  const restBytes = Buffer.byteLength(rest);
  let length = restBytes + 1;
  while (String(length).length + restBytes !== length) length = String(length).length + restBytes;
  return Buffer.from(`${length}${rest}`, 'utf8');
}

/** A printable-ASCII stand-in for the ustar name field when a PAX record carries the real path (old readers show it). */
function fallbackName(path: string): string {
  return Buffer.from(path.replace(/[^\x20-\x7e]/g, '_'), 'latin1')
    .subarray(0, NAME_BYTES)
    .toString('latin1');
}

/** The header blocks before a member's data: a PAX header and its record when the path needs one, then the ustar header. */
export function memberHeaders(entry: TarEntry): Buffer {
  const header = ustarHeader({ name: fitsUstarName(entry.path) ? entry.path : fallbackName(entry.path), size: entry.size, mtime: entry.mtime, type: '0' });
  if (fitsUstarName(entry.path)) return header;
  const record = paxRecord('path', entry.path);
  const pax = ustarHeader({ name: fallbackName(`PaxHeader/${entry.path}`), size: record.length, mtime: entry.mtime, type: 'x' });
  return Buffer.concat([pax, record, Buffer.alloc(padded(record.length) - record.length), header]);
}

/** Bytes of the headers before a member's data, without building them. */
export function memberHeaderBytes(path: string): number {
  return fitsUstarName(path) ? TAR_BLOCK : 2 * TAR_BLOCK + padded(paxRecord('path', path).length);
}

/** Zero bytes after a member's data, to the next block. */
export const paddingAfter = (size: number) => padded(size) - size;

/** Bytes a member takes in a bundle: its headers, its data and the padding after it. */
export const memberFootprint = (entry: Pick<TarEntry, 'path' | 'size'>) => memberHeaderBytes(entry.path) + padded(entry.size);

/** Where each member's data starts, in order, and the archive's size with its end blocks. */
export function tarLayout(entries: readonly Pick<TarEntry, 'path' | 'size'>[]): { offsets: number[]; size: number } {
  const offsets: number[] = [];
  let at = 0;
  for (const entry of entries) {
    offsets.push(at + memberHeaderBytes(entry.path));
    at += memberFootprint(entry);
  }
  return { offsets, size: at + TAR_END_BYTES };
}
