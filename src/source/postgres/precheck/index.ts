/** The prechecks a PostgreSQL source contributes, in report order. */
import type { PgPrecheck } from '../../../pg/precheck-side.ts';
import { ddlCaptureCheck } from './check-ddl-capture.ts';
import { existingSlotCheck } from './check-existing-slot.ts';
import { heartbeatCheck } from './check-heartbeat.ts';
import { pgoutputStreamingCheck } from './check-pgoutput-streaming.ts';
import { publicationCheck } from './check-publication.ts';
import { replicaIdentityCheck } from './check-replica-identity.ts';
import { rowFiltersCheck } from './check-row-filters.ts';
import { replicationRoleCheck } from './check-replication-role.ts';
import { replicationSlotsCheck } from './check-replication-slots.ts';
import { sourceVersionCheck } from './check-server-version.ts';
import { sourcePrivilegesCheck } from './check-source-privileges.ts';
import { walLevelCheck } from './check-wal-level.ts';
import { walSendersCheck } from './check-wal-senders.ts';

/** Source checks after connection and object resolution. */
export const SOURCE_PRECHECKS: readonly PgPrecheck[] = [
  sourceVersionCheck,
  walLevelCheck,
  replicationSlotsCheck,
  existingSlotCheck,
  walSendersCheck,
  replicationRoleCheck,
  pgoutputStreamingCheck,
  sourcePrivilegesCheck,
  publicationCheck,
  heartbeatCheck,
  ddlCaptureCheck,
  replicaIdentityCheck,
  rowFiltersCheck,
];
