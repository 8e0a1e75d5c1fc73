import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import * as clients from '../../functions/lib/aws-clients';
import { archiveExecution, finished, index, loadRun, useLocalCloud } from '../support/local-cloud';
import { OUTPUT_BUCKET, RESTORE_BUCKET, WORKFLOW_POLICY } from '../support/policies';

jest.setTimeout(120_000);
const cloud = useLocalCloud(WORKFLOW_POLICY);

test('probe', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'probe-'));
  fs.mkdirSync(path.join(dir, 'aligned'));
  fs.writeFileSync(path.join(dir, 'empty.done'), Buffer.alloc(0));
  fs.writeFileSync(path.join(dir, 'aligned/a.bam'), randomBytes(9 * 1024 * 1024 + 5));
  const run = await loadRun(cloud(), { outputs: [], outputsFolder: dir }, { outputBucket: OUTPUT_BUCKET });
  const archived = await archiveExecution(cloud(), run.id, run.uuid);
  console.log(archived.status, archived.states);
  const name = `probe-${Date.now()}`;
  await clients.sfnClient().send(new StartExecutionCommand({ stateMachineArn: cloud().resources.stateMachines.restoreRun, name, input: JSON.stringify({ run: run.uuid, destination: `s3://${RESTORE_BUCKET}/p/` }) }));
  const r = await finished(cloud().resources.stateMachines.restoreRun, name);
  console.log(r.status, r.failure, r.states);
  console.log(JSON.stringify(r.events.map((e) => [e.type, e.stateEnteredEventDetails?.name]), null, 0));
  console.log(JSON.stringify(await index(cloud()).listRestores(run.uuid), null, 1));
});
