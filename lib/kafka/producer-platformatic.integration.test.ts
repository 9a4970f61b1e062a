/** The producer contract for {@link PlatformaticRecordSender}: see testing/producer-contract.ts. */
import { silentLogger } from '../observability/logger.ts';
import { PlatformaticRecordSender } from './producer-platformatic.ts';
import { producerContract } from './testing/producer-contract.ts';

producerContract({
  name: 'PlatformaticRecordSender',
  connect: ({ brokers, clientId, security }) =>
    new PlatformaticRecordSender({ brokers, clientId, security, log: silentLogger() }),
});
