// `omics-archiver index migrate`: moves run index items written by older archivers to the current schema version.
import * as clients from '../../functions/lib/runtime/clients';
import { migrateIndex, type MigrationReport } from '../../functions/lib/index/migrations';
import { SCHEMA_VERSION } from '../../functions/lib/index/run-index';
import { processIO, type CommandIO } from './display';
import { ResourceResolver, type ResolverDeps, type ResourceFlags } from './resources';

export interface IndexMigrateOptions extends ResourceFlags {
  dryRun?: boolean;
  json?: boolean;
}

export async function indexMigrate(opts: IndexMigrateOptions, io: CommandIO = processIO, deps: ResolverDeps = {}): Promise<MigrationReport> {
  const table = await new ResourceResolver(opts, deps).get('table');
  const report = await migrateIndex({ db: clients.documentClient(), tableName: table, dryRun: opts.dryRun });
  if (opts.json) {
    io.out(JSON.stringify({ table, schemaVersion: SCHEMA_VERSION, ...report }, null, 2));
    return report;
  }
  const versions =
    Object.entries(report.byVersion)
      .map(([v, n]) => `${n} at version ${v}`)
      .join(', ') || 'none';
  io.out(`${table}: ${report.scanned} items (${versions}); this archiver writes version ${SCHEMA_VERSION}.`);
  io.out(
    opts.dryRun
      ? `Dry run: ${report.migrated} items would be migrated.`
      : `${report.migrated} migrated, ${report.current} already current${report.conflicts ? `, ${report.conflicts} changed while migrating (run again)` : ''}.`,
  );
  if (report.newer) io.err(`${report.newer} items are newer than this archiver knows and were left alone: upgrade the CLI.`);
  return report;
}
