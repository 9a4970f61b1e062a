/**
 * KafkajsTopicAdmin against a real Kafka broker in KRaft mode, through the cases every
 * TopicAdmin must pass (topic-admin-contract.ts): run under
 * `node hack/local-env/cli.ts run --with kafka -- node --test <this file>`.
 */
import { KafkajsTopicAdmin } from './kafkajs-topic-admin.ts';
import { topicAdminContract } from './testing/topic-admin-contract.ts';

topicAdminContract({
  name: 'KafkajsTopicAdmin',
  connect: (options) => new KafkajsTopicAdmin(options),
  // kafkajs speaks Metadata v6, before topic ids.
  reportsTopicIds: false,
});
