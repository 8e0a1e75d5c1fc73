// Vault operations: create, describe, list, delete (only when empty), and the notification configuration.
import type { Call, Ctx } from './context';
import { parseLimit } from './context';
import { invalidParameter, notFound } from './errors';
import { readJsonBody, sendEmpty, sendJson } from './http';
import type { VaultRecord } from './store';

const NOTIFICATION_EVENTS = ['ArchiveRetrievalCompleted', 'InventoryRetrievalCompleted'];

function describe(ctx: Ctx, vault: VaultRecord) {
  const archives = Object.values(ctx.store.state.archives).filter((a) => a.vault === vault.name);
  // AWS reports counts as of the last daily inventory; the emulator reports them live (see docs/glacier-emulator.md).
  return {
    CreationDate: vault.creationDate,
    LastInventoryDate: vault.lastInventoryDate,
    NumberOfArchives: archives.length,
    SizeInBytes: archives.reduce((sum, a) => sum + a.size, 0),
    VaultARN: ctx.vaultArn(vault.name),
    VaultName: vault.name,
  };
}

export function createVault(ctx: Ctx, call: Call): void {
  const name = call.vaultName;
  if (!/^[A-Za-z0-9_.-]{1,255}$/.test(name)) {
    throw invalidParameter(`Invalid vault name: ${name}. Names are 1 to 255 characters of a-z, A-Z, 0-9, '_', '-' and '.'`);
  }
  if (!ctx.store.state.vaults[name]) {
    ctx.store.state.vaults[name] = { name, creationDate: ctx.now().toISOString(), lastInventoryDate: null };
    ctx.store.save();
  }
  sendEmpty(call.res, 201, { location: ctx.location(name) });
}

export function describeVault(ctx: Ctx, call: Call): void {
  sendJson(call.res, 200, describe(ctx, ctx.store.vault(call.vaultName, ctx.vaultArn(call.vaultName))));
}

export function listVaults(ctx: Ctx, call: Call): void {
  const limit = parseLimit(call.query, 10);
  const marker = call.query.get('marker');
  const vaults = Object.values(ctx.store.state.vaults).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // The List Vaults marker is the ARN of the last vault returned; listing resumes after it.
  let start = 0;
  if (marker) {
    start = vaults.findIndex((v) => ctx.vaultArn(v.name) === marker) + 1;
    if (start === 0) throw invalidParameter(`Invalid marker: ${marker}`);
  }
  const slice = vaults.slice(start, start + limit);
  const more = start + limit < vaults.length;
  sendJson(call.res, 200, {
    Marker: more ? ctx.vaultArn(slice[slice.length - 1].name) : null,
    VaultList: slice.map((v) => describe(ctx, v)),
  });
}

export function deleteVault(ctx: Ctx, call: Call): void {
  const arn = ctx.vaultArn(call.vaultName);
  const vault = ctx.store.vault(call.vaultName, arn);
  const state = ctx.store.state;
  if (Object.values(state.archives).some((a) => a.vault === vault.name)) {
    throw invalidParameter(`Vault not empty or recently written to: ${arn}`);
  }
  delete state.vaults[vault.name];
  for (const [id, upload] of Object.entries(state.uploads)) if (upload.vault === vault.name) delete state.uploads[id];
  ctx.store.save();
  sendEmpty(call.res, 204);
}

export async function setVaultNotifications(ctx: Ctx, call: Call): Promise<void> {
  const vault = ctx.store.vault(call.vaultName, ctx.vaultArn(call.vaultName));
  const body = await readJsonBody(call.req);
  const { SNSTopic, Events } = body;
  if (typeof SNSTopic !== 'string' || !SNSTopic.startsWith('arn:')) throw invalidParameter(`Invalid SNSTopic: ${String(SNSTopic)}`);
  if (!Array.isArray(Events) || Events.length === 0 || !Events.every((e) => typeof e === 'string' && NOTIFICATION_EVENTS.includes(e))) {
    throw invalidParameter(`Invalid Events: ${JSON.stringify(Events)}. Valid events are ${NOTIFICATION_EVENTS.join(', ')}`);
  }
  vault.notification = { SNSTopic, Events: Events as string[] };
  ctx.store.save();
  sendEmpty(call.res, 204);
}

export function getVaultNotifications(ctx: Ctx, call: Call): void {
  const vault = ctx.store.vault(call.vaultName, ctx.vaultArn(call.vaultName));
  if (!vault.notification) throw notFound(`No notification configuration is set for vault: ${ctx.vaultArn(vault.name)}`);
  sendJson(call.res, 200, vault.notification);
}

export function deleteVaultNotifications(ctx: Ctx, call: Call): void {
  const vault = ctx.store.vault(call.vaultName, ctx.vaultArn(call.vaultName));
  delete vault.notification;
  ctx.store.save();
  sendEmpty(call.res, 204);
}
