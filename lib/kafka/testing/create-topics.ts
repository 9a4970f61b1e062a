/**
 * Creating topics for a test with a plain kafkajs admin, as a client outside Weir would.
 * kafkajs's own wait for leaders gives up on UNKNOWN_TOPIC_OR_PARTITION, which a busy broker,
 * or one that has just restarted, answers for a moment about a topic it has just created:
 * this waits until every partition has a leader instead.
 */
import type { Admin } from 'kafkajs';
import { untilSeen } from '../topic-admin.ts';

export async function createTestTopics(
  admin: Admin,
  topics: { topic: string; numPartitions: number }[],
): Promise<void> {
  await admin.createTopics({ waitForLeaders: false, topics });
  const names = topics.map((t) => t.topic);
  const led = await untilSeen(async () => {
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics: names });
      return (
        found.length === names.length &&
        found.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))
      );
    } catch {
      return false;
    }
  }, 30_000);
  if (!led) throw new Error(`topics ${names.join(', ')} have no leaders 30 s after they were created`);
}
