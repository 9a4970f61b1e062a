/** What enrichment tells the task about each event of a batch. */

/** The outcome of enriching one event: done (its fields set), to dead-letter (onMiss DeadLetter), or failed and worth a retry. */
export type EnrichOutcome =
  { kind: 'ok' } | { kind: 'deadLetter'; message: string } | { kind: 'failed'; message: string };

/** Adds looked-up records to events, in place. */
export interface Enricher {
  /** One outcome per event, in order; lookups of the batch run in parallel. */
  enrich(events: Record<string, unknown>[]): Promise<EnrichOutcome[]>;
  close(): Promise<void>;
}

const OK: EnrichOutcome = Object.freeze({ kind: 'ok' });

/** For pipelines without spec.enrich. */
export const noEnrichment: Enricher = {
  enrich: async (events) => events.map(() => OK),
  close: async () => undefined,
};
