// The demo workflow `local up` registers: what StartRun runs locally, with the synthetic run's tasks and outputs.
import { syntheticRun } from './fixture';
import type { WorkflowFixtureInput } from './model';
import { OUTPUTS_FROM_PARAMETER } from './runner';

/** The id `local demo`'s synthetic runs carry too, so both kinds of run belong to one workflow. */
export const DEMO_WORKFLOW_ID = '4074992';

/** A germline-calling look-alike: four tasks, outputs of mixed sizes (see syntheticRun), or a folder's files. */
export function demoWorkflow(): WorkflowFixtureInput {
  const run = syntheticRun();
  return {
    id: DEMO_WORKFLOW_ID,
    name: run.workflowName ?? 'germline-variant-calling',
    description: 'Local demo workflow: synthetic outputs, or the files of the folder named by the outputsFrom parameter',
    parameterTemplate: {
      sample_name: { description: 'sample name', optional: true },
      ref_fasta: { description: 'reference FASTA', optional: true },
      min_quality: { description: 'minimum base quality', optional: true },
      [OUTPUTS_FROM_PARAMETER]: { description: "a local folder whose files become the run's outputs", optional: true },
    },
    tags: { project: 'demo' },
    tasks: run.tasks,
    outputs: run.outputs,
    engineLog: run.engineLog,
  };
}
