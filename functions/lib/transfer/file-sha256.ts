// The whole-file SHA-256 of an archive or a restore: node:crypto when one invocation will do, resumable when it may not.
import { createHash } from 'node:crypto';
import { createSHA256, type IHasher } from 'hash-wasm';

/** A running SHA-256 whose state may be saved between Lambda invocations. */
export interface FileSha256 {
  update(data: Uint8Array): void;
  digestHex(): string;
  /** Base64 of the state (a running digest and a length, none of the file's bytes), or undefined if it cannot be saved. */
  save(): string | undefined;
}

/**
 * From which file size the SHA-256 is made resumable. node:crypto's Hash cannot be saved; hash-wasm's can, at about
 * 8× the CPU (WebAssembly has no SHA instructions), which would slow every large file. Below this size a file moves
 * within one invocation anyway (about 100 GB in 15 minutes), so only bigger ones pay for checkpoints. Tests lower it.
 */
export const sha256Checkpoints = { minBytes: 64 * 1024 ** 3 };

const native = (): FileSha256 => {
  const hash = createHash('sha256');
  return { update: (data) => void hash.update(data), digestHex: () => hash.digest('hex'), save: () => undefined };
};

const resumable = (hasher: IHasher): FileSha256 => ({
  update: (data) => void hasher.update(data),
  digestHex: () => hasher.digest('hex'),
  save: () => Buffer.from(hasher.save()).toString('base64'),
});

/** A fresh SHA-256 for a file of `size` bytes: resumable only if the file is big enough to need it. */
export async function newFileSha256(size: number): Promise<FileSha256> {
  return size >= sha256Checkpoints.minBytes ? resumable(await createSHA256()) : native();
}

/** A SHA-256 in a saved state, or undefined when `state` is not one hash-wasm wrote. */
export async function loadFileSha256(state: string): Promise<FileSha256 | undefined> {
  const hasher = await createSHA256();
  try {
    return resumable(hasher.load(Buffer.from(state, 'base64')));
  } catch {
    return undefined;
  }
}
