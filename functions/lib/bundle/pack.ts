// Packs a run's small archive files into bundles: in listing order, each bundle within the tier's bytes and member count, laid out as tar.
import { bundleIdOf, type BundleManifest, type BundlePolicy } from '../contract';
import { TAR_END_BYTES, memberFootprint, tarLayout } from './tar';

/** A file the plan may bundle, as the listing (or the index) has it. */
export interface BundleCandidate {
  path: string;
  bucket: string;
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
}

/** A bundle the plan lays out: its id and sequence, its manifest (members and offsets), and its members' bytes. */
export interface PlannedBundle {
  id: string;
  sequence: number;
  manifest: BundleManifest;
  /** The members' bytes, without tar headers. */
  bytes: number;
}

/**
 * Whether a file goes into a bundle: one byte or more (an empty file needs no archive at all) and below the tier's
 * threshold.
 */
export const isBundleCandidate = (size: number, policy: BundlePolicy | undefined): boolean => policy !== undefined && size > 0 && size < policy.filesBelow;

export interface PackResult {
  bundles: PlannedBundle[];
  /**
   * Candidates left to be archived one by one: a file whose tar footprint alone passes bundleMaxBytes (only just under
   * a threshold equal to it), and the lone member of a bundle of one, which would cost what the file alone costs.
   */
  unbundled: BundleCandidate[];
}

/** Packs in order; a bundle is closed when the next member would pass its bytes (end blocks included) or member count. */
export function packBundles(candidates: readonly BundleCandidate[], policy: BundlePolicy, runUuid: string, firstSequence: number): PackResult {
  const groups: BundleCandidate[][] = [];
  const unbundled: BundleCandidate[] = [];
  let current: BundleCandidate[] = [];
  let bytes = TAR_END_BYTES;
  for (const candidate of candidates) {
    const footprint = memberFootprint(candidate);
    if (footprint + TAR_END_BYTES > policy.maxBytes) {
      unbundled.push(candidate);
      continue;
    }
    if (current.length >= policy.maxMembers || bytes + footprint > policy.maxBytes) {
      groups.push(current);
      current = [];
      bytes = TAR_END_BYTES;
    }
    current.push(candidate);
    bytes += footprint;
  }
  if (current.length) groups.push(current);
  const bundles: PlannedBundle[] = [];
  for (const members of groups) {
    if (members.length === 1) {
      unbundled.push(members[0]);
      continue;
    }
    const sequence = firstSequence + bundles.length;
    const id = bundleIdOf(runUuid, sequence);
    const layout = tarLayout(members);
    bundles.push({
      id,
      sequence,
      bytes: members.reduce((sum, m) => sum + m.size, 0),
      manifest: {
        runUuid,
        bundleId: id,
        size: layout.size,
        members: members.map((m, i) => ({
          path: m.path,
          bucket: m.bucket,
          key: m.key,
          size: m.size,
          ...(m.etag !== undefined && { etag: m.etag }),
          mtime: m.lastModified ? Math.floor(m.lastModified.getTime() / 1000) : 0,
          offset: layout.offsets[i],
        })),
      },
    });
  }
  return { bundles, unbundled };
}
