/** The prechecks a PostgreSQL destination contributes, in report order. */
import type { PgPrecheck } from '../../../pg/precheck-side.ts';
import { destinationPrivilegesCheck } from './check-destination-privileges.ts';
import { destinationTablesCheck } from './check-destination-tables.ts';
import { destinationVersionCheck } from './check-destination-version.ts';
import { rowSecurityCheck } from './check-row-security.ts';
import { sessionReplicationRoleCheck } from './check-session-replication-role.ts';

/** Destination checks after connection. */
export const DESTINATION_PRECHECKS: readonly PgPrecheck[] = [
  destinationVersionCheck,
  destinationPrivilegesCheck,
  destinationTablesCheck,
  sessionReplicationRoleCheck,
  rowSecurityCheck,
];
