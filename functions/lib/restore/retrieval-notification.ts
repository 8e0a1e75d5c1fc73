// The vault's job-completion notification: resumes the restore step waiting on that job through its task token.
import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import type { RunIndex } from '../index/run-index';
import { parseJobDescription } from './retrieval';

/** The vault's job-completion message (raw SNS delivery: the DescribeJob JSON). */
export const JobNotificationSchema = z.object({
  JobId: z.string(),
  JobDescription: z.string().nullish(),
  StatusCode: z.string(),
  StatusMessage: z.string().nullish(),
  Action: z.string().optional(),
});

/** Resumes the restore waiting on a finished job; a token that already timed out (poll took over) is fine. */
export async function resumeAfterJob(args: {
  sfn: SFNClient;
  index: RunIndex;
  message: z.infer<typeof JobNotificationSchema>;
}): Promise<'resumed' | 'failed' | 'not-ours' | 'no-waiter'> {
  const ref = parseJobDescription(args.message.JobDescription ?? undefined);
  if (!ref) return 'not-ours';
  const record = await args.index.getRestoreFileByKey(ref.runUuid, ref.restoreId, ref.fileKey);
  if (!record?.taskToken || record.jobId !== args.message.JobId) return 'no-waiter';
  try {
    if (args.message.StatusCode === 'Succeeded') {
      await args.sfn.send(
        new SendTaskSuccessCommand({ taskToken: record.taskToken, output: JSON.stringify({ jobId: args.message.JobId, statusCode: 'Succeeded' }) }),
      );
      return 'resumed';
    }
    await args.sfn.send(
      new SendTaskFailureCommand({
        taskToken: record.taskToken,
        error: 'RetrievalFailed',
        cause: `Glacier job ${args.message.JobId}: ${args.message.StatusMessage ?? args.message.StatusCode}`,
      }),
    );
    return 'failed';
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TaskTimedOut' || name === 'TaskDoesNotExist' || name === 'InvalidToken') return 'no-waiter';
    throw error;
  }
}
