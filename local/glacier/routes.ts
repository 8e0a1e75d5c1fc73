// Maps the REST paths the Glacier SDK sends (/{accountId}/vaults/...) to operation handlers.
import { abortMultipartUpload, completeMultipartUpload, initiateMultipartUpload, listMultipartUploads, listParts, uploadMultipartPart } from './multipart';
import { deleteArchive, uploadArchive } from './archives';
import type { Call, Ctx } from './context';
import { describeJobOperation, getJobOutput, initiateJob, listJobs } from './jobs';
import { createVault, deleteVault, deleteVaultNotifications, describeVault, getVaultNotifications, listVaults, setVaultNotifications } from './vaults';

/** An operation; those that only touch the in-memory state answer synchronously. */
export type Handler = (ctx: Ctx, call: Call) => void | Promise<void>;

/**
 * Routes keyed by method and path shape after /{accountId}/vaults/{vaultName}: '' for the vault itself, then the
 * sub-resource and ':id' for each id segment.
 */
const ROUTES: Partial<Record<string, Handler>> = {
  'PUT ': createVault,
  'GET ': describeVault,
  'DELETE ': deleteVault,
  'PUT notification-configuration': setVaultNotifications,
  'GET notification-configuration': getVaultNotifications,
  'DELETE notification-configuration': deleteVaultNotifications,
  'POST archives': uploadArchive,
  'DELETE archives/:id': deleteArchive,
  'POST multipart-uploads': initiateMultipartUpload,
  'GET multipart-uploads': listMultipartUploads,
  'PUT multipart-uploads/:id': uploadMultipartPart,
  'POST multipart-uploads/:id': completeMultipartUpload,
  'DELETE multipart-uploads/:id': abortMultipartUpload,
  'GET multipart-uploads/:id': listParts,
  'POST jobs': initiateJob,
  'GET jobs': listJobs,
  'GET jobs/:id': describeJobOperation,
  'GET jobs/:id/output': getJobOutput,
};

export interface Route {
  handler: Handler;
  vaultName: string;
  ids: string[];
}

/** Finds the handler for a path below /{accountId}; undefined when the emulator does not implement it. */
export function route(method: string, segments: string[]): Route | undefined {
  if (segments[0] !== 'vaults') return undefined;
  if (segments.length === 1) return method === 'GET' ? { handler: listVaults, vaultName: '', ids: [] } : undefined;
  const [, vaultName, resource, ...rest] = segments;
  const ids: string[] = [];
  let shape = resource ?? '';
  if (rest.length > 0) {
    ids.push(rest[0]);
    shape += '/:id';
    if (rest.length === 2 && rest[1] === 'output') shape += '/output';
    else if (rest.length > 1) return undefined;
  }
  const handler = ROUTES[`${method} ${shape}`];
  return handler ? { handler, vaultName, ids } : undefined;
}
