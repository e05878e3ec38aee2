/** Every resolver, checked against the types generated from schema.graphql. */
import type { Resolvers } from '../generated/schema-types.ts';
import { DateTime, JSONScalar } from '../scalars.ts';
import { eventResolvers } from './events.ts';
import { jobResolvers } from './job.ts';
import { Mutation } from './mutation.ts';
import { Query } from './query.ts';
import { Subscription } from './subscription.ts';
import { zooResolvers } from './zoo.ts';

export const resolvers: Resolvers = {
  Query,
  Mutation,
  Subscription,
  ...jobResolvers,
  ...eventResolvers,
  ...zooResolvers,
  DateTime,
  JSON: JSONScalar,
};
