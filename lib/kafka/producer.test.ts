import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { FakeClock } from '../clock/clock.ts';
import { Errors, weirError } from '../errors/errors.ts';
import { silentLogger } from '../observability/logger.ts';
import { EventProducer, type ProducerRecord, type RecordSender } from './producer.ts';

/** A sender whose batches stay in flight until the test settles them. */
class HeldSender implements RecordSender {
  readonly client = 'held';
  batches: { records: readonly ProducerRecord[]; settle: (err?: Error) => void }[] = [];
  async connect(): Promise<void> {}
  sendBatch(records: readonly ProducerRecord[]): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.batches.push({ records, settle: (err) => (err ? reject(err) : resolve()) });
    return promise;
  }
  async close(): Promise<void> {}
}

const rec = (value: string): ProducerRecord => ({
  topic: 't',
  key: Buffer.from('k'),
  value: Buffer.from(value),
  headers: {},
});
const unavailable = () => weirError(Errors.KafkaUnavailable, 'down');

async function setUp(options: { maxBatchRecords?: number } = {}) {
  const sender = new HeldSender();
  const clock = new FakeClock({ now: 1_000 });
  const producer = new EventProducer({ sender, clock, log: silentLogger(), ...options });
  await producer.connect();
  return { sender, clock, producer };
}

describe('the event producer', () => {
  it('sends the records handed over in one tick as one batch', async () => {
    const { sender, producer } = await setUp();
    const sent = [producer.send([rec('a')]), producer.send([rec('b'), rec('c')])];
    await nextTurn();
    assert.deepEqual(
      sender.batches.map((b) => b.records.map((r) => r.value.toString())),
      [['a', 'b', 'c']],
    );
    sender.batches[0]!.settle();
    await Promise.all(sent);
  });

  it('fills the next batch while one is in flight, and sends it once the first is acknowledged', async () => {
    const { sender, producer } = await setUp();
    const first = producer.send([rec('a')]);
    await nextTurn();
    const later = [producer.send([rec('b')]), producer.send([rec('c')])];
    await nextTurn();
    assert.equal(sender.batches.length, 1);
    sender.batches[0]!.settle();
    await first;
    await nextTurn();
    assert.deepEqual(
      sender.batches[1]!.records.map((r) => r.value.toString()),
      ['b', 'c'],
    );
    sender.batches[1]!.settle();
    await Promise.all(later);
  });

  it('starts a new batch when the next caller would take one past its record limit, and never splits a call', async () => {
    const { sender, producer } = await setUp({ maxBatchRecords: 3 });
    void producer.send([rec('a'), rec('b')]);
    void producer.send([rec('c'), rec('d')]);
    await nextTurn();
    assert.equal(sender.batches[0]!.records.length, 2);
    sender.batches[0]!.settle();
    await nextTurn();
    await nextTurn();
    assert.equal(sender.batches[1]!.records.length, 2);
  });

  it("rejects every caller of a failed batch with the sender's error", async () => {
    const { sender, producer } = await setUp();
    const sent = [producer.send([rec('a')]), producer.send([rec('b')])];
    await nextTurn();
    sender.batches[0]!.settle(weirError(Errors.KafkaRequestFailed, 'too large'));
    for (const p of sent) await assert.rejects(p, { code: Errors.KafkaRequestFailed.code });
    assert.equal(producer.available, true);
  });

  it('refuses callers at once while Kafka is unavailable, with the records already queued, then lets one batch probe', async () => {
    const { sender, clock, producer } = await setUp();
    const first = producer.send([rec('a')]);
    await nextTurn();
    const queued = producer.send([rec('b')]);
    sender.batches[0]!.settle(unavailable());
    await assert.rejects(first, { code: Errors.KafkaUnavailable.code });
    await assert.rejects(queued, { code: Errors.KafkaUnavailable.code });
    assert.equal(producer.available, false);
    await assert.rejects(producer.send([rec('c')]), { code: Errors.KafkaUnavailable.code });
    assert.equal(sender.batches.length, 1);

    await clock.advance(1_000);
    const probe = producer.send([rec('d')]);
    await assert.rejects(producer.send([rec('e')]), { code: Errors.KafkaUnavailable.code });
    await nextTurn();
    assert.equal(sender.batches.length, 2);
    sender.batches[1]!.settle();
    await probe;
    assert.equal(producer.available, true);
  });

  it('flushes: resolves once every record handed over has been settled', async () => {
    const { sender, producer } = await setUp();
    const sent = producer.send([rec('a')]);
    let flushed = false;
    const flush = producer.flush().then(() => (flushed = true));
    await nextTurn();
    assert.equal(flushed, false);
    sender.batches[0]!.settle();
    await Promise.all([sent, flush]);
    assert.equal(flushed, true);
  });

  it('refuses new records once closed', async () => {
    const { producer } = await setUp();
    await producer.close();
    await assert.rejects(producer.send([rec('a')]), { code: Errors.ShuttingDown.code });
  });
});
