/**
 * Submits a translated job through the SQL Gateway: one session per submission, the job's
 * statements in order, the savepoint to restore from (if any) set just before the
 * statement set, and the session closed whatever happens.
 */
import { Errors, weirError } from '../../lib/errors/errors.ts';
import type { SqlGatewayClient } from '../../lib/flink/sql-gateway-client.ts';
import type { FlinkJob } from './flink-sql.ts';
import { literal } from './sql-text.ts';

/** Submits the job; resolves with the id of the job Flink started. */
export async function submitJob(
  gateway: SqlGatewayClient,
  job: FlinkJob,
  options: { savepoint?: string } = {},
): Promise<string> {
  const session = await gateway.openSession({}, job.name);
  try {
    const statements = [...job.statements];
    if (options.savepoint)
      statements.splice(statements.length - 1, 0, `SET 'execution.savepoint.path' = ${literal(options.savepoint)}`);
    let jobId: string | undefined;
    for (const statement of statements) jobId = (await gateway.run(session, statement)).jobId ?? jobId;
    if (!jobId) throw weirError(Errors.FlinkRequestFailed, `the SQL Gateway submitted ${job.name} but named no job`);
    return jobId;
  } finally {
    await gateway.closeSession(session).catch(() => undefined);
  }
}
