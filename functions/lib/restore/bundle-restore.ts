// Brings back the requested members of one bundle from its one retrieval: each member's bytes cut from the tar, checked against its SHA-256, written to its destination.
//
// The retrieval is a vault job over the MiB-aligned range around the members, or the bundle object restored out of
// its Glacier class (or readable at once in Glacier Instant Retrieval). Members are read in bundle order, several
// near one another in one ranged read (GetJobOutput or GetObject), each held whole only until it is written: a
// member is at most 64 MiB (BUNDLE_LIMITS). A member whose bytes do not hash to the recorded SHA-256 is FAILED with
// ChecksumMismatch and nothing is written for it; the others come back. Progress is the count of members settled
// from the first (`membersDone` on the first member's record), so a copy the deadline stopped, or whose job output
// expired and was retrieved again, resumes there.
import { GetJobOutputCommand } from '@aws-sdk/client-glacier';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ERROR_NAMES, MIB, RestoreBundleMemberSchema, type RestoreBundleMember, type RestoreItem, type WorkflowError } from '../contract';
import type { RestoreFileRecord, RunIndex } from '../index/run-index';
import { mapBounded } from '../runtime/bounded';
import { describeWorkflowError } from '../runtime/workflow-error';
import { readJsonObject } from '../s3/json-object';
import type { CopyOutcome, CopyRestoredFileArgs } from './copy-restored-file';

/** Members closer than this are read in one range: skipping a gap costs less than another request. */
export const MEMBER_READ_GAP = MIB;
/** Members written to their destinations at once. */
const WRITES_IN_FLIGHT = 8;

const MembersSchema = z.array(RestoreBundleMemberSchema).min(1);

export async function loadRestoreMembers(s3: CopyRestoredFileArgs['s3'], bundle: NonNullable<RestoreItem['bundle']>): Promise<RestoreBundleMember[]> {
  const members = MembersSchema.parse(await readJsonObject(s3, bundle.membersBucket, bundle.membersKey));
  return [...members].sort((a, b) => a.offset - b.offset);
}

/** Runs of members near one another, each read with one request: [first byte, last byte] of the bundle and the members in it. */
export function readRuns(members: readonly RestoreBundleMember[], gap = MEMBER_READ_GAP): { start: number; end: number; members: RestoreBundleMember[] }[] {
  const runs: { start: number; end: number; members: RestoreBundleMember[] }[] = [];
  for (const member of members) {
    const last = runs[runs.length - 1];
    const end = member.offset + Math.max(member.length, 1) - 1;
    if (last && member.offset - last.end - 1 <= gap) {
      last.members.push(member);
      last.end = Math.max(last.end, end);
    } else runs.push({ start: member.offset, end, members: [member] });
  }
  return runs;
}

/** Yields each member's bytes from a stream of the bundle that starts at `start`, skipping what lies between them. */
async function* cutMembers(
  stream: AsyncIterable<Uint8Array>,
  start: number,
  members: readonly RestoreBundleMember[],
): AsyncGenerator<{ member: RestoreBundleMember; bytes: Buffer }> {
  let position = start;
  let next = 0;
  let bytes: Buffer | undefined;
  let filled = 0;
  const emptyOnes = function* () {
    while (next < members.length && members[next].length === 0) yield { member: members[next++], bytes: Buffer.alloc(0) };
  };
  yield* emptyOnes();
  for await (const chunk of stream) {
    let at = 0;
    while (at < chunk.length && next < members.length) {
      const member = members[next];
      if (position < member.offset) {
        const skip = Math.min(member.offset - position, chunk.length - at);
        at += skip;
        position += skip;
        continue;
      }
      bytes ??= Buffer.allocUnsafe(member.length);
      const take = Math.min(member.length - filled, chunk.length - at);
      bytes.set(chunk.subarray(at, at + take), filled);
      filled += take;
      at += take;
      position += take;
      if (filled === member.length) {
        yield { member, bytes };
        next++;
        bytes = undefined;
        filled = 0;
        yield* emptyOnes();
      }
    }
    if (next >= members.length) return;
  }
  if (next < members.length)
    throw new Error(
      `the retrieval ended at byte ${position} of the bundle, before member ${members[next].path} (${members[next].offset}+${members[next].length})`,
    );
}

/** The bundle's bytes [start, end] from the retrieval: the vault job's output (which begins at its range), or the restored object. */
async function readBundle(args: CopyRestoredFileArgs, record: RestoreFileRecord, start: number, end: number): Promise<AsyncIterable<Uint8Array>> {
  const { item } = args;
  if (item.retrieval === 'vault-job') {
    if (!record.jobId) throw new Error(`no retrieval job recorded for bundle ${item.bundle?.id} (on ${item.path})`);
    const base = item.bundle?.range?.start ?? 0;
    const output = await args.glacier.send(
      new GetJobOutputCommand({ accountId: '-', vaultName: item.vaultName ?? '', jobId: record.jobId, range: `bytes=${start - base}-${end - base}` }),
    );
    return output.body as AsyncIterable<Uint8Array>;
  }
  const object = await args.s3.send(
    new GetObjectCommand({
      Bucket: item.archiveBucket,
      Key: item.archiveKey,
      VersionId: item.archiveVersionId === 'null' ? undefined : item.archiveVersionId,
      Range: `bytes=${start}-${end}`,
    }),
  );
  return object.Body as AsyncIterable<Uint8Array>;
}

/**
 * Copies the bundle's requested members not yet settled, in order, until the deadline; marks each one restored or
 * failed as it goes (the first member's own state is the caller's to write, from `failureReason`).
 */
export async function copyBundleMembers(args: CopyRestoredFileArgs, record: RestoreFileRecord): Promise<CopyOutcome> {
  const { item, index } = args;
  const bundle = item.bundle;
  if (!bundle) throw new Error(`restore item ${item.path} is not a bundle's`);
  const members = await loadRestoreMembers(args.s3, bundle);
  const lead = members.find((m) => m.path === item.path);
  if (!lead) throw new Error(`the member list of bundle ${bundle.id} does not name ${item.path}, whose record holds its retrieval`);
  const from = record.membersDone ?? 0;
  const settled = new Set<number>();
  // The first member (the lead: first in bundle order) settles first; a failure of it an earlier call met is on its record.
  let leadFailure = from > 0 ? record.failureReason : undefined;
  let done = from;
  const position = new Map(members.map((m, i) => [m.path, i]));
  const settle = async (member: RestoreBundleMember, failure: string | undefined) => {
    if (member.path === item.path) {
      leadFailure = failure;
      if (failure) await index.updateRestoreFile(item.runUuid, item.restoreId, item.path, { failureReason: failure });
    } else {
      await index.updateRestoreFile(
        item.runUuid,
        item.restoreId,
        member.path,
        failure
          ? { state: 'FAILED', failureReason: failure }
          : { state: 'RESTORED', bytesDone: member.length, restoredAt: new Date().toISOString(), failureReason: null },
      );
    }
    settled.add(position.get(member.path)!);
    while (settled.has(done)) done++;
  };
  const recordProgress = () => index.updateRestoreFile(item.runUuid, item.restoreId, item.path, { membersDone: done });

  const writes = new Set<Promise<void>>();
  let writeFailure: unknown;
  const write = async (member: RestoreBundleMember, bytes: Buffer) => {
    const sha256 = createHash('sha256').update(bytes).digest();
    if (sha256.toString('hex') !== member.sha256) {
      await settle(
        member,
        `${ERROR_NAMES.checksumMismatch}: its bytes in bundle ${bundle.id} hash to ${sha256.toString('hex')}, ${member.sha256} was recorded; nothing was written`,
      );
      return;
    }
    await args.s3.send(
      new PutObjectCommand({
        Bucket: member.destinationBucket,
        Key: member.destinationKey,
        Body: bytes,
        ContentLength: bytes.length,
        // S3 checks it on receipt, so the object written is the bytes just verified.
        ChecksumSHA256: sha256.toString('base64'),
      }),
    );
    await settle(member, undefined);
  };
  const stopped = () => writeFailure !== undefined || Date.now() > args.deadline;

  let complete = true;
  outer: for (const run of readRuns(members.slice(from))) {
    if (stopped()) {
      complete = false;
      break;
    }
    for await (const { member, bytes } of cutMembers(await readBundle(args, record, run.start, run.end), run.start, run.members)) {
      while (writes.size >= WRITES_IN_FLIGHT) await Promise.race(writes);
      const task = write(member, bytes)
        .catch((error: unknown) => {
          writeFailure ??= error;
        })
        .finally(() => writes.delete(task));
      writes.add(task);
      if (stopped()) {
        complete = false;
        break outer;
      }
    }
  }
  await Promise.all(writes);
  await recordProgress();
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows a write's error as it was raised
  if (writeFailure !== undefined) throw writeFailure;
  if (!complete || done < members.length) return { status: 'incomplete', bytesDone: members.slice(0, done).reduce((sum, m) => sum + m.length, 0) };
  return { status: 'complete', size: lead.length, sha256: lead.sha256, ...(leadFailure && { failureReason: leadFailure }) };
}

/** After the workflow gave up on a bundle's item: every requested member not restored is FAILED with the workflow's error. */
export async function recordBundleRestoreFailure(args: {
  index: RunIndex;
  s3: CopyRestoredFileArgs['s3'];
  item: RestoreItem;
  error: WorkflowError;
}): Promise<number> {
  const { index, item } = args;
  const reason = describeWorkflowError(args.error, 1000);
  const members = item.bundle ? await loadRestoreMembers(args.s3, item.bundle) : [{ path: item.path }];
  const marked = await mapBounded(members, 16, async (member) => {
    const current = await index.getRestoreFile(item.runUuid, item.restoreId, member.path);
    if (current?.state === 'RESTORED') return 0;
    await index.updateRestoreFile(item.runUuid, item.restoreId, member.path, {
      state: 'FAILED',
      failureReason: item.bundle && member.path !== item.path ? `with bundle ${item.bundle.id}: ${reason}` : reason,
    });
    return 1;
  });
  return marked.reduce((sum: number, n) => sum + n, 0);
}
