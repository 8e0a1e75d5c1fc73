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
