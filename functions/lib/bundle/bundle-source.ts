// A bundle as one stream of tar bytes: headers from its manifest, members read from their sources a few ahead, each member's SHA-256 on the way.
//
// The uploads read their source range by range, in order, one at a time (transfer/ranged-transfer.ts), and so does
// this source: the tar is never held whole, only the parts in flight and a bounded read-ahead of members. Small files
// are read ahead because one GET at a time would make a bundle of 10,000 files take minutes of round trips; the
// members still enter the tar in manifest order. A read from byte 0 starts the bundle again (an upload that restarts
// or re-reads the parts it resumes), so after a pass over every byte, memberSha256() is each member's SHA-256.
import { createHash } from 'node:crypto';
import { ERROR_NAMES, type BundleManifest, type BundleMember } from '../contract';
import type { ByteSource } from '../s3/byte-source';
import { TAR_END_BYTES, memberHeaders, paddingAfter } from './tar';

export interface BundleSourceArgs {
  manifest: BundleManifest;
  /** A member's bytes, pinned to the version the plan saw (its ETag). */
  readMember(member: BundleMember): Promise<AsyncIterable<Uint8Array>>;
  /** How far members are read ahead of the one being written: at most this many, and this many bytes (default 16, 32 MiB). */
  readAhead?: { members: number; bytes: number };
}

export interface BundleSource extends ByteSource {
  /** Each member's SHA-256 (hex), in manifest order; only once a pass has read every byte of the bundle. */
  memberSha256(): string[];
  /** Members read so far in this pass (for progress reports). */
  readonly membersRead: number;
}

/**
 * A member that could not be read as planned (gone, changed, or not the planned size): the bundle cannot be written.
 * The name is the cause's (NoSuchKey, PreconditionFailed, ...) so the archive step knows it for a permanent failure.
 */
export class BundleMemberError extends Error {
  constructor(
    readonly member: string,
    cause: Error,
  ) {
    super(`member ${member}: ${cause.name}: ${cause.message}`, { cause });
    this.name = cause.name;
  }
}

const DEFAULT_READ_AHEAD = { members: 16, bytes: 32 * 1024 * 1024 };

interface Fetched {
  bytes: Buffer;
  sha256: string;
}

/** Reads members in manifest order, several at once within the read-ahead bounds, handing them over in order. */
class MemberFetcher {
  private readonly pending: Promise<Fetched>[] = [];
  private next = 0;
  private buffered = 0;
  private closed = false;

  constructor(
    private readonly args: BundleSourceArgs,
    private readonly limits: { members: number; bytes: number },
  ) {}

  /** The next member's bytes and SHA-256, in order. */
  async take(): Promise<Fetched> {
    this.fill();
    const fetched = this.pending.shift();
    if (!fetched) throw new Error('no member left to read: the bundle was read past its manifest');
    const result = await fetched;
    this.buffered -= result.bytes.length;
    this.fill();
    return result;
  }

  close(): void {
    this.closed = true;
  }

  /** Starts reads while the bounds allow; always at least the next member, whatever its size. */
  private fill(): void {
    const members = this.args.manifest.members;
    while (!this.closed && this.next < members.length && this.pending.length < this.limits.members) {
      const member = members[this.next];
      if (this.pending.length > 0 && this.buffered + member.size > this.limits.bytes) break;
      this.next++;
      this.buffered += member.size;
      const read = this.fetch(member);
      // Its failure is the consumer's to see, when it reaches that member; not an unhandled rejection before then.
      read.catch(() => undefined);
      this.pending.push(read);
    }
  }

  private async fetch(member: BundleMember): Promise<Fetched> {
    try {
      const bytes = Buffer.allocUnsafe(member.size);
      let filled = 0;
      const hash = createHash('sha256');
      if (member.size > 0) {
        for await (const chunk of await this.args.readMember(member)) {
          if (filled + chunk.length > bytes.length) throw sourceChanged(`${member.key} has more than the ${member.size} bytes planned`);
          bytes.set(chunk, filled);
          filled += chunk.length;
          hash.update(chunk);
        }
      }
      if (filled !== member.size) throw sourceChanged(`${member.key} has ${filled} bytes, ${member.size} were planned`);
      return { bytes, sha256: hash.digest('hex') };
    } catch (error) {
      throw new BundleMemberError(member.path, error as Error);
    }
  }
}

const sourceChanged = (message: string) => Object.assign(new Error(message), { name: ERROR_NAMES.sourceChanged });

/** The bundle's bytes in order: each member's headers, data and padding, then the end blocks. */
async function* tarBytes(manifest: BundleManifest, fetcher: MemberFetcher, digests: string[]): AsyncGenerator<Uint8Array> {
  for (const member of manifest.members) {
    yield memberHeaders({ path: member.path, size: member.size, mtime: member.mtime });
    const { bytes, sha256 } = await fetcher.take();
    digests.push(sha256);
    yield bytes;
    const padding = paddingAfter(member.size);
    if (padding) yield Buffer.alloc(padding);
  }
  yield Buffer.alloc(TAR_END_BYTES);
}

/** Serves consecutive inclusive ranges of one pass over the bundle, cutting its chunks where the ranges end. */
export function bundleSource(args: BundleSourceArgs): BundleSource {
  const { manifest } = args;
  let pass: { chunks: AsyncGenerator<Uint8Array>; fetcher: MemberFetcher; position: number; leftover?: Uint8Array; digests: string[] } | undefined;
  const start = () => {
    pass?.fetcher.close();
    const fetcher = new MemberFetcher(args, args.readAhead ?? DEFAULT_READ_AHEAD);
    const digests: string[] = [];
    pass = { chunks: tarBytes(manifest, fetcher, digests), fetcher, position: 0, digests };
    return pass;
  };
  return {
    size: manifest.size,
    get membersRead() {
      return pass?.digests.length ?? 0;
    },
    memberSha256() {
      if (!pass || pass.position !== manifest.size || pass.digests.length !== manifest.members.length) {
        throw new Error(`bundle ${manifest.bundleId} has not been read to its end, so its members' SHA-256s are not known`);
      }
      return [...pass.digests];
    },
    read(first, last) {
      const current = first === 0 ? start() : pass;
      if (!current || first !== current.position || last < first || last >= manifest.size) {
        return Promise.reject(new RangeError(`bundle ${manifest.bundleId} is read in order: asked for ${first}-${last} at ${current?.position ?? 0}`));
      }
      let wanted = last - first + 1;
      async function* range(): AsyncGenerator<Uint8Array> {
        while (wanted > 0) {
          let chunk = current!.leftover;
          current!.leftover = undefined;
          if (!chunk) {
            const next = await current!.chunks.next();
            if (next.done) throw new Error(`bundle ${manifest.bundleId} ended ${wanted} bytes before its manifest's ${manifest.size}`);
            chunk = next.value;
          }
          if (chunk.length > wanted) {
            current!.leftover = chunk.subarray(wanted);
            chunk = chunk.subarray(0, wanted);
          }
          wanted -= chunk.length;
          current!.position += chunk.length;
          if (chunk.length) yield chunk;
        }
      }
      return Promise.resolve(range());
    },
  };
}
