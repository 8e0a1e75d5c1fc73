// The strict HealthOmics emulator and its run fixtures, for the local cloud and the tests.
export { OmicsEmulator, type OmicsEmulatorOptions } from './emulator';
export { OmicsError } from './errors';
export { DEFAULT_RUN_DELAYS, OUTPUTS_FROM_PARAMETER, RunDriver, type RunDelays, type RunDriverOptions } from './runner';
export { DEMO_WORKFLOW_ID, demoWorkflow } from './workflows';
export {
  generate,
  loadRunFixture,
  parseS3Uri,
  publishRunStatusEvent,
  writeRunArtifacts,
  syntheticRun,
  type LoadRunFixtureClients,
  type OutputFileInput,
  type SyntheticRunOptions,
  type TaskFixtureInput,
} from './fixture';
export {
  FixtureError,
  RUN_STATUSES,
  TASK_STATUSES,
  WORKFLOW_LOG_GROUP,
  parseRunFixture,
  type LogLines,
  type RunFixture,
  type RunFixtureInput,
  type RunStatus,
  type StoredRun,
  type StoredTask,
  type StoredWorkflow,
  type TaskStatus,
  type WorkflowFixtureInput,
} from './model';
