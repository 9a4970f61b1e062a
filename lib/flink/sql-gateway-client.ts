/**
 * The Flink SQL Gateway's REST API (v1+): sessions, statements, operation status and
 * results. {@link SqlGatewayClient.run} executes one statement to its end and returns its
 * rows, and for an INSERT or a statement set the id of the job it submitted; a statement
 * Flink refuses fails with FlinkStatementFailed and Flink's own reason.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Errors, hasCode, weirError } from '../errors/errors.ts';
import { flinkRequest, type FlinkEndpoint } from './flink-rest.ts';

/** States of a gateway operation (org.apache.flink.table.gateway.api.operation.OperationStatus). */
export type OperationState =
  'INITIALIZED' | 'PENDING' | 'RUNNING' | 'FINISHED' | 'CANCELED' | 'CLOSED' | 'ERROR' | 'TIMEOUT';

/** One page of an operation's results. */
export interface ResultPage {
  resultType: 'NOT_READY' | 'PAYLOAD' | 'EOS';
  rows: unknown[][];
  /** Path of the next page, absent after the last. */
  next?: string;
  /** The job the statement submitted, for INSERT statements and statement sets. */
  jobId?: string;
}

/** What a statement run to its end gave. */
export interface StatementResult {
  rows: unknown[][];
  jobId?: string;
}

interface RawPage {
  resultType: ResultPage['resultType'];
  nextResultUri?: string;
  jobID?: string;
  results?: { data?: { fields: unknown[] }[] };
}

/** Client of one SQL Gateway's REST endpoint. */
export class SqlGatewayClient {
  readonly #endpoint: FlinkEndpoint;
  /** Time between polls of an operation that is still running. */
  readonly #pollMs: number;

  constructor(endpoint: FlinkEndpoint & { pollMs?: number }) {
    this.#endpoint = endpoint;
    this.#pollMs = endpoint.pollMs ?? 100;
  }

  /** Opens a session; `properties` are session configuration (such as pipeline.name). */
  async openSession(properties: Record<string, string> = {}, name?: string): Promise<string> {
    const raw = await flinkRequest<{ sessionHandle: string }>(this.#endpoint, '/v1/sessions', {
      method: 'POST',
      body: { properties, sessionName: name },
    });
    return raw.sessionHandle;
  }

  /** Closes a session and its operations; one already gone is fine. */
  async closeSession(session: string): Promise<void> {
    try {
      await flinkRequest(this.#endpoint, `/v1/sessions/${encodeURIComponent(session)}`, { method: 'DELETE' });
    } catch (err) {
      if (!hasCode(err, Errors.FlinkRequestFailed)) throw err;
    }
  }

  /** Submits a statement; resolves with the operation's handle. */
  async submit(session: string, statement: string): Promise<string> {
    const raw = await flinkRequest<{ operationHandle: string }>(
      this.#endpoint,
      `/v1/sessions/${encodeURIComponent(session)}/statements`,
      { method: 'POST', body: { statement } },
    );
    return raw.operationHandle;
  }

  async status(session: string, operation: string): Promise<OperationState> {
    const raw = await flinkRequest<{ status: OperationState }>(
      this.#endpoint,
      `/v1/sessions/${encodeURIComponent(session)}/operations/${encodeURIComponent(operation)}/status`,
    );
    return raw.status;
  }

  /** One page of results: the first, or the one `next` of the previous page names. */
  async page(session: string, operation: string, next?: string): Promise<ResultPage> {
    const path =
      next ??
      `/v1/sessions/${encodeURIComponent(session)}/operations/${encodeURIComponent(operation)}/result/0?rowFormat=JSON`;
    const raw = await flinkRequest<RawPage>(this.#endpoint, path);
    return {
      resultType: raw.resultType,
      rows: (raw.results?.data ?? []).map((d) => d.fields),
      next: raw.resultType === 'EOS' ? undefined : raw.nextResultUri,
      jobId: raw.jobID ?? undefined,
    };
  }

  /** Cancels a running operation (a query that would run forever, say). */
  async cancel(session: string, operation: string): Promise<void> {
    await flinkRequest(
      this.#endpoint,
      `/v1/sessions/${encodeURIComponent(session)}/operations/${encodeURIComponent(operation)}/cancel`,
      { method: 'POST' },
    );
  }

  /**
   * Runs a statement to its end and collects its rows: DDL and SET answer at once; an
   * INSERT answers with the submitted job's id as soon as the job is submitted, not when it
   * ends. A statement that takes longer than `timeoutMs` (a streaming SELECT) is cancelled.
   */
  async run(session: string, statement: string, timeoutMs = 60_000): Promise<StatementResult> {
    const operation = await this.submit(session, statement);
    const deadline = Date.now() + timeoutMs;
    const rows: unknown[][] = [];
    let jobId: string | undefined;
    let next: string | undefined;
    for (;;) {
      let page: ResultPage;
      try {
        page = await this.page(session, operation, next);
      } catch (err) {
        // The results of a failed operation are its error: Flink's reason for refusing it.
        if (hasCode(err, Errors.FlinkRequestFailed))
          // Without the cause: Flink's answer may quote the statement, and with it a table's Kafka password.
          throw weirError(
            Errors.FlinkStatementFailed,
            redactSecrets(`${summarize(statement)}: ${err.message.replace(/^.*?: HTTP \d+: /, '')}`),
          );
        throw err;
      }
      rows.push(...page.rows);
      jobId ??= page.jobId;
      if (page.resultType === 'EOS' || !page.next) return { rows, jobId };
      next = page.next;
      if (Date.now() > deadline) {
        await this.cancel(session, operation).catch(() => undefined);
        throw weirError(Errors.DeadlineExceeded, `${summarize(statement)}: no end after ${timeoutMs} ms`);
      }
      if (page.rows.length === 0) await sleep(this.#pollMs);
    }
  }
}

/** The statement's first words, for messages: enough to say which one failed. */
/** The text with every JAAS password (as in a Kafka table's `sasl.jaas.config`) replaced. */
export function redactSecrets(text: string): string {
  return text.replace(/(password\s*=\s*)(\\?")(?:\\.|[^"\\])*\2/gi, '$1$2***$2');
}

function summarize(statement: string): string {
  const oneLine = statement.replace(/\s+/g, ' ').trim();
  return oneLine.length > 80 ? `${oneLine.slice(0, 80)}…` : oneLine;
}
