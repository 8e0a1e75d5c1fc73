// The Glacier SHA-256 tree hash, computed as bytes stream past, the rules for combining part and range hashes, and
// the errors raised when a hash disagrees (Step Functions matches on their names).
import { createHash } from 'node:crypto';

export const MIB = 1024 * 1024;

const sha256 = (...chunks: Uint8Array[]): Buffer => {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest();
};

/** SHA-256 of nothing: the tree hash of an empty input, by the same rule that a 1-leaf tree is its leaf. */
export const EMPTY_SHA256 = sha256();

/**
 * The roots of the complete subtrees of a tree hash seen so far, left to right, their levels (log2 of their span in
 * MiB) strictly decreasing: one 32-byte hash per level, whatever the size. Nodes of any level can be pushed (a MiB
 * leaf, or a 2^n MiB range whose tree hash Glacier returned), and the state saves to a string and back.
 */
export class SubtreeStack {
  private readonly stack: { level: number; hash: Buffer }[] = [];

  push(hash: Buffer, level: number): void {
    let node = { level, hash };
    while (this.stack.length > 0 && this.stack[this.stack.length - 1].level === node.level) {
      const left = this.stack.pop()!;
      node = { level: node.level + 1, hash: sha256(left.hash, node.hash) };
    }
    this.stack.push(node);
  }

  /**
   * An unpaired right-hand subtree is promoted unchanged, so folding the leftovers right to left reproduces the
   * level-by-level pairing the Glacier documentation describes.
   */
  digest(): Buffer {
    if (this.stack.length === 0) return EMPTY_SHA256;
    let hash = this.stack[this.stack.length - 1].hash;
    for (let i = this.stack.length - 2; i >= 0; i--) hash = sha256(this.stack[i].hash, hash);
    return hash;
  }

  save(): string {
    return this.stack.map((node) => node.hash.toString('hex')).join('');
  }

  /**
   * The stack after `mib` whole MiB from the start, from `saved`; undefined when `saved` cannot be that. A run of whole
   * MiB splits into one complete subtree per set bit of its length, which gives each saved hash its level.
   */
  static load(saved: string, mib: number): SubtreeStack | undefined {
    const levels: number[] = [];
    for (let rest = mib, level = 0; rest > 0; rest = Math.floor(rest / 2), level++) if (rest % 2) levels.unshift(level);
    if (!Number.isSafeInteger(mib) || !/^([0-9a-f]{64})+$/.test(saved) || saved.length !== levels.length * 64) return undefined;
    const loaded = new SubtreeStack();
    levels.forEach((level, i) => loaded.stack.push({ level, hash: Buffer.from(saved.slice(i * 64, (i + 1) * 64), 'hex') }));
    return loaded;
  }
}

/**
 * Streaming tree hash. Holds at most one partial MiB of input (as a running SHA-256, not a copy of the bytes)
 * and one 32-byte hash per level of the tree: complete subtrees are folded as soon as their sibling arrives, so
 * memory grows with log2(size in MiB), not with the size.
 */
export class TreeHash {
  private readonly subtrees = new SubtreeStack();
  private leaf = createHash('sha256');
  private leafBytes = 0;
  private totalBytes = 0;
  private finished: Buffer | undefined;

  update(chunk: Uint8Array): this {
    if (this.finished) throw new Error('TreeHash.update after digest');
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(MIB - this.leafBytes, chunk.length - offset);
      this.leaf.update(chunk.subarray(offset, offset + take));
      this.leafBytes += take;
      offset += take;
      if (this.leafBytes === MIB) this.closeLeaf();
    }
    this.totalBytes += chunk.length;
    return this;
  }

  /** Bytes fed so far. */
  get size(): number {
    return this.totalBytes;
  }

  digest(): Buffer {
    if (this.finished) return this.finished;
    if (this.leafBytes > 0) this.closeLeaf();
    this.finished = this.subtrees.digest();
    return this.finished;
  }

  digestHex(): string {
    return this.digest().toString('hex');
  }

  private closeLeaf(): void {
    this.subtrees.push(this.leaf.digest(), 0);
    this.leaf = createHash('sha256');
    this.leafBytes = 0;
  }
}

export function treeHashOf(data: Uint8Array): Buffer {
  return new TreeHash().update(data).digest();
}

/** Reduces a list of sibling hashes (1-MiB leaves, or equal-sized power-of-two subtrees) pairwise to their root. */
export function combineTreeHashes(hashes: readonly Buffer[]): Buffer {
  if (hashes.length === 0) return EMPTY_SHA256;
  let level = [...hashes];
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? sha256(level[i], level[i + 1]) : level[i]);
    level = next;
  }
  return level[0];
}

/**
 * The archive tree hash from the tree hashes of its parts (or retrieval ranges), in order. Parts of 1 MiB × 2^n
 * (all but the last exactly that size) are nodes of the archive's tree, so combining them pairwise gives its root.
 */
export function combinePartTreeHashes(partHashes: readonly Buffer[]): Buffer {
  return combineTreeHashes(partHashes);
}

/** True when `bytes` is 1 MiB × 2^n for n ≥ 0. */
export function isPowerOfTwoMiB(bytes: number): boolean {
  if (!Number.isSafeInteger(bytes) || bytes < MIB || bytes % MIB !== 0) return false;
  const mib = bytes / MIB;
  return (mib & (mib - 1)) === 0;
}

/**
 * Whether the byte range [start, endExclusive) of an archive of `archiveSize` bytes is tree-hash aligned: its own
 * tree hash is a node of the archive's tree, so Glacier returns a checksum for it. Nodes at level k cover
 * [j·2^k MiB, min((j+1)·2^k MiB, archiveSize)).
 */
export function isTreeHashAligned(start: number, endExclusive: number, archiveSize: number): boolean {
  if (start < 0 || endExclusive > archiveSize || start >= endExclusive || start % MIB !== 0) return false;
  for (let span = MIB; ; span *= 2) {
    if (start % span !== 0) return false;
    if (Math.min(start + span, archiveSize) === endExclusive) return true;
    if (start + span >= archiveSize) return false;
  }
}

/** Bytes disagree with a tree hash: Glacier's, the index's, or the source's. */
export class TreeHashMismatchError extends Error {
  override name = 'TreeHashMismatch';
}

/** A whole-file SHA-256 disagrees with the one recorded when the file was archived. */
export class ChecksumMismatchError extends Error {
  override name = 'ChecksumMismatch';
}
