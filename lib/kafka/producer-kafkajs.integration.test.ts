/** The producer contract for {@link KafkajsRecordSender}: see testing/producer-contract.ts. */
import { silentLogger } from '../observability/logger.ts';
import { KafkajsRecordSender } from './producer-kafkajs.ts';
import { producerContract } from './testing/producer-contract.ts';

producerContract({
  name: 'KafkajsRecordSender',
  connect: ({ brokers, clientId, security }) =>
    new KafkajsRecordSender({ brokers, clientId, security, log: silentLogger() }),
});
