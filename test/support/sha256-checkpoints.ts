// Makes whole-file SHA-256 checkpoints apply to the small files tests use (normally only files of 64 GiB and more).
import { sha256Checkpoints } from '../../functions/lib/transfer/file-sha256';

/** Checkpoints the SHA-256 of every file, whatever its size, while this file's tests run; restores the threshold after. */
export function useSha256Checkpoints(): void {
  let checkpointFrom: number;
  beforeAll(() => {
    checkpointFrom = sha256Checkpoints.minBytes;
    sha256Checkpoints.minBytes = 0;
  });
  afterAll(() => {
    sha256Checkpoints.minBytes = checkpointFrom;
  });
}
