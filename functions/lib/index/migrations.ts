// Moves run index items written by older versions of the archiver forward to the current schemaVersion.
import { paginateScan, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { SCHEMA_VERSION } from './run-index';

/** An index item as stored: every item has pk, sk and schemaVersion. */
export type IndexItem = Record<string, unknown> & { pk: string; sk: string; schemaVersion?: number };

/**
 * One step from version `from` to `from + 1`. Migrations are pure (item in, item out), so they are unit-tested on
 * their own; there are none yet because version 1 is the first.
 */
export interface Migration {
  from: number;
  describe: string;
  migrate(item: IndexItem): IndexItem;
}

export const MIGRATIONS: readonly Migration[] = [];

export interface MigrationReport {
  scanned: number;
  current: number;
  migrated: number;
  /** Items newer than this archiver knows: left alone (an older CLI must never rewrite a newer item). */
  newer: number;
  /** Items changed by someone else between read and write: left for the next run. */
  conflicts: number;
  byVersion: Record<string, number>;
}

/** Applies every migration from the item's version up to `target`; throws if a step is missing. */
export function migrateItem(item: IndexItem, migrations: readonly Migration[] = MIGRATIONS, target = SCHEMA_VERSION): IndexItem {
  let current = { ...item, schemaVersion: item.schemaVersion ?? 1 };
  while ((current.schemaVersion ?? 1) < target) {
    const step = migrations.find((m) => m.from === current.schemaVersion);
    if (!step) throw new Error(`no migration from schema version ${current.schemaVersion} (item ${item.pk} ${item.sk})`);
    current = { ...step.migrate(current), schemaVersion: (current.schemaVersion ?? 1) + 1 };
  }
  return current;
}

/**
 * Scans the table and rewrites each older item at the current version, conditionally on it not having changed since
 * it was read. `dryRun` counts without writing. Safe to run again at any time: current items are left alone.
 */
export async function migrateIndex(args: {
  db: DynamoDBDocumentClient;
  tableName: string;
  dryRun?: boolean;
  migrations?: readonly Migration[];
  target?: number;
}): Promise<MigrationReport> {
  const target = args.target ?? SCHEMA_VERSION;
  const report: MigrationReport = { scanned: 0, current: 0, migrated: 0, newer: 0, conflicts: 0, byVersion: {} };
  for await (const page of paginateScan({ client: args.db, pageSize: 500 }, { TableName: args.tableName })) {
    for (const raw of (page.Items ?? []) as IndexItem[]) {
      report.scanned++;
      const version = raw.schemaVersion ?? 1;
      report.byVersion[String(version)] = (report.byVersion[String(version)] ?? 0) + 1;
      if (version === target) {
        report.current++;
        continue;
      }
      if (version > target) {
        report.newer++;
        continue;
      }
      const migrated = migrateItem(raw, args.migrations, target);
      if (args.dryRun) {
        report.migrated++;
        continue;
      }
      try {
        await args.db.send(
          new PutCommand({
            TableName: args.tableName,
            Item: migrated,
            // Only over the very item read: the same version and the same last update.
            ConditionExpression: raw.schemaVersion === undefined ? 'attribute_not_exists(schemaVersion)' : 'schemaVersion = :v AND updatedAt = :u',
            ExpressionAttributeValues: raw.schemaVersion === undefined ? undefined : { ':v': raw.schemaVersion, ':u': raw.updatedAt },
          }),
        );
        report.migrated++;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) && (error as Error).name !== 'ConditionalCheckFailedException') throw error;
        report.conflicts++;
      }
    }
  }
  return report;
}
