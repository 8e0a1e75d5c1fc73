// Where the archiver writes in its buckets: snapshots, plans, Map results, restore items and archived objects.

/** Everything snapshotted of one run: `runs/<uuid>/`, with `snapshot.json` listing what was captured. */
export const snapshotPrefix = (runUuid: string) => `runs/${runUuid}/`;

/** One archive execution's plan: the work items the Distributed Map reads, and where it writes its results. */
export const planLocation = (runUuid: string, executionName: string) => ({
  itemsKey: `plans/${runUuid}/${executionName}/items.json`,
  resultPrefix: `plans/${runUuid}/${executionName}/results`,
});

/** One restore's items, as the restore workflow's Distributed Map reads them. */
export const restoreItemsKey = (runUuid: string, restoreId: string) => `restores/${runUuid}/${restoreId}/items.json`;

/**
 * A bundle's manifest (its members, in tar order, with their offsets) in the snapshot bucket, written by the plan and
 * read by the archive step; beside it the members' SHA-256s, written before the bundle's upload completes. One place
 * per bundle, whatever execution planned it, so a bundle an earlier execution started is resumed from the same list.
 */
export const bundleManifestKey = (runUuid: string, bundleId: string) => `plans/${runUuid}/bundles/${bundleId}.json`;
export const bundleDigestsKey = (runUuid: string, bundleId: string) => `plans/${runUuid}/bundles/${bundleId}.sha256.json`;

/** The members of one bundle a restore brings back (offsets, lengths, SHA-256s, destinations), beside its items. */
export const restoreBundleMembersKey = (runUuid: string, restoreId: string, bundleId: string) => `restores/${runUuid}/${restoreId}/bundles/${bundleId}.json`;

/**
 * A bundle in the archive bucket (the s3-glacier target). Not under `runs/<uuid>/`, where a run's output paths are
 * keyed: a bundle's key can then never be an output's.
 */
export const bundleObjectKey = (runUuid: string, bundleId: string) => `bundles/${runUuid}/${bundleId}.tar`;

/** The run and bundle an archive bucket key names (bundleObjectKey's inverse); undefined for any other key. */
export function parseBundleObjectKey(key: string): { runUuid: string; bundleId: string } | undefined {
  const match = /^bundles\/([^/]+)\/([^/]+)\.tar$/.exec(key);
  return match ? { runUuid: match[1], bundleId: match[2] } : undefined;
}

/** An output file's copy in the archive bucket (the s3-glacier target): the run's uuid, then its output path. */
export const archiveObjectKey = (runUuid: string, path: string) => `runs/${runUuid}/${path}`;

/** The run and output path an archive bucket key names (archiveObjectKey's inverse); undefined for any other key. */
export function parseArchiveObjectKey(key: string): { runUuid: string; path: string } | undefined {
  const match = /^runs\/([^/]+)\/(.+)$/s.exec(key);
  return match ? { runUuid: match[1], path: match[2] } : undefined;
}

const CWL_OUTPUT_PATH = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\/(out\/.*)$/is;

/**
 * A path in the run's output folder as the WDL and Nextflow layout has it (`out/…`). CWL runs write their outputs one
 * folder deeper, under `<runOutputUri>/<uuid>/out/…` (HealthOmics guide, "HealthOmics run outputs":
 * docs.aws.amazon.com/omics/latest/dev/workflows-run-outputs.html), so `<uuid>/out/x.bam` reads as `out/x.bam`; any
 * other path is itself. Globs match either form; the index keeps the real path.
 */
export function layoutPath(path: string): string {
  return CWL_OUTPUT_PATH.exec(path)?.[1] ?? path;
}
