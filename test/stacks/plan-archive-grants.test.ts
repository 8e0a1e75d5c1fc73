// The plan step's HealthOmics read: GetRun on runs (to tell a newer run under a reused id), and nothing that changes a run.
import type { CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildStack } from './helpers';

test('plan-archive may GetRun on the runs, and only that in HealthOmics', () => {
  const { stack } = buildStack();
  const role = stack.archive.functions.planArchive.role;
  const roleId = stack.getLogicalId(role.node.defaultChild as CfnElement);
  const json = Template.fromStack(stack).toJSON() as { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
  const statements = Object.values(json.Resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(JSON.stringify({ Ref: roleId })))
    .flatMap((r) => (r.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement);
  const omics = statements.flatMap((s) =>
    ([] as string[])
      .concat(s.Action)
      .filter((a) => a.startsWith('omics:'))
      .map((action) => ({ action, resource: s.Resource })),
  );
  expect(omics.map((o) => o.action)).toEqual(['omics:GetRun']);
  expect(JSON.stringify(stack.resolve(omics[0].resource))).toContain(':run/*');
});
