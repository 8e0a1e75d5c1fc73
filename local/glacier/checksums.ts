// The emulator's own tree hash, written apart from functions/lib/glacier/tree-hash.ts so a bug there cannot hide here.
import { createHash, type Hash } from 'node:crypto';

export const MIB = 1024 * 1024;

const sha256 = (...parts: Uint8Array[]) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
};

/** Collects the SHA-256 of every 1-MiB leaf, and the plain SHA-256, of bytes written to it. */
export class LeafHasher {
  readonly leaves: Buffer[] = [];
  bytes = 0;
  private readonly whole = createHash('sha256');
  private leaf: Hash = createHash('sha256');
  private leafBytes = 0;
  private content: Buffer | undefined;

  add(chunk: Buffer): void {
    this.whole.update(chunk);
    this.bytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(MIB - this.leafBytes, chunk.length - offset);
      this.leaf.update(chunk.subarray(offset, offset + take));
      this.leafBytes += take;
      offset += take;
      if (this.leafBytes === MIB) this.closeLeaf();
    }
  }

  /** Ends the input: returns the leaves and the SHA-256 of everything written. */
  finish(): { leaves: Buffer[]; sha256: Buffer; bytes: number } {
    if (!this.content) {
      if (this.leafBytes > 0) this.closeLeaf();
      this.content = this.whole.digest();
    }
    return { leaves: this.leaves, sha256: this.content, bytes: this.bytes };
  }

  private closeLeaf(): void {
    this.leaves.push(this.leaf.digest());
    this.leaf = createHash('sha256');
    this.leafBytes = 0;
  }
}

/** Root of the tree over `hashes` (leaves, or subtree roots of equal power-of-two size), pairing level by level. */
export function treeRoot(hashes: readonly Buffer[]): Buffer {
  if (hashes.length === 0) return sha256();
  let level = hashes.slice();
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? sha256(level[i], level[i + 1]) : level[i]);
    level = next;
  }
  return level[0];
}

/**
 * Is [start, end) a node of the tree hash of an archive of `size` bytes? Walks down from the root, always into
 * the child that holds `start`, and compares each node's byte range.
 */
export function isNodeOfTree(start: number, end: number, size: number): boolean {
  if (start < 0 || end > size || start >= end) return false;
  let span = MIB;
  while (span < size) span *= 2;
  let nodeStart = 0;
  for (;;) {
    const nodeEnd = Math.min(nodeStart + span, size);
    if (nodeStart === start && nodeEnd === end) return true;
    if (span === MIB) return false;
    span /= 2;
    if (start >= nodeStart + span) nodeStart += span;
    if (nodeStart >= size) return false;
  }
}

/** Tree hash of the aligned range [start, end) from the archive's leaves. */
export function rangeTreeHash(leaves: readonly Buffer[], start: number, end: number): Buffer {
  return treeRoot(leaves.slice(start / MIB, Math.ceil(end / MIB)));
}

/** Glacier answers "Invalid x-amz-sha256-tree-hash: 000" for text that is not a hex digest, and a mismatch otherwise. */
export const looksLikeHexDigest = (value: string) => /^[0-9a-fA-F]+$/.test(value) && value.length % 2 === 0;
