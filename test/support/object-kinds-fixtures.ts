/**
 * The "object kinds" fixture: user-defined aggregates of every form (plain with a moving mode and a
 * combine function, with a final function, ordered-set, hypothetical-set, MIN-like with a sort
 * operator, over `*`) with their support functions, and views calling them, under awkward names.
 */
import { sql, type TestServer } from './servers.ts';

/** The schema the fixture creates. */
export const KINDS_SCHEMA = 'Obj Kinds';

const FIXTURE = `
CREATE SCHEMA "Obj Kinds";
COMMENT ON SCHEMA "Obj Kinds" IS 'object kinds';
CREATE FUNCTION "Obj Kinds"."Add It"(s bigint, v integer) RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT s + coalesce(v, 0) $$;
CREATE FUNCTION "Obj Kinds"."Sub It"(s bigint, v integer) RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT s - coalesce(v, 0) $$;
CREATE FUNCTION "Obj Kinds"."Sum Both"(a bigint, b bigint) RETURNS bigint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT a + b $$;
CREATE FUNCTION "Obj Kinds"."As Text"(s bigint) RETURNS text
  LANGUAGE sql IMMUTABLE AS $$ SELECT 'total ' || s $$;
CREATE FUNCTION "Obj Kinds"."nth final"(s double precision[], n integer) RETURNS double precision
  LANGUAGE sql IMMUTABLE AS $$ SELECT x FROM unnest(s) x ORDER BY x OFFSET n - 1 LIMIT 1 $$;
CREATE FUNCTION "Obj Kinds"."rank final"(s integer[], h integer) RETURNS bigint
  LANGUAGE sql IMMUTABLE AS $$ SELECT 1 + count(*) FROM unnest(s) x WHERE x < h $$;
CREATE FUNCTION "Obj Kinds".smaller(a integer, b integer) RETURNS integer
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT least(a, b) $$;
CREATE FUNCTION "Obj Kinds"."count one"(s bigint) RETURNS bigint
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT s + 1 $$;

CREATE AGGREGATE "Obj Kinds"."My Sum"(integer) (
  SFUNC = "Obj Kinds"."Add It", STYPE = bigint, INITCOND = '0', SSPACE = 16,
  COMBINEFUNC = "Obj Kinds"."Sum Both", PARALLEL = SAFE,
  MSFUNC = "Obj Kinds"."Add It", MINVFUNC = "Obj Kinds"."Sub It", MSTYPE = bigint, MINITCOND = '0');
COMMENT ON AGGREGATE "Obj Kinds"."My Sum"(integer) IS 'sums, also in moving windows';
CREATE AGGREGATE "Obj Kinds"."Total Text"(integer) (
  SFUNC = "Obj Kinds"."Add It", STYPE = bigint, INITCOND = '0',
  FINALFUNC = "Obj Kinds"."As Text", FINALFUNC_MODIFY = SHAREABLE);
CREATE AGGREGATE "Obj Kinds"."Nth Value"(n integer ORDER BY v double precision) (
  SFUNC = pg_catalog.array_append, STYPE = double precision[], FINALFUNC = "Obj Kinds"."nth final");
COMMENT ON AGGREGATE "Obj Kinds"."Nth Value"(integer ORDER BY double precision) IS 'ordered-set';
CREATE AGGREGATE "Obj Kinds"."Hypo Rank"(integer ORDER BY integer) (
  SFUNC = pg_catalog.array_append, STYPE = integer[], FINALFUNC = "Obj Kinds"."rank final", HYPOTHETICAL);
CREATE AGGREGATE "Obj Kinds"."Least Of"(integer) (
  SFUNC = "Obj Kinds".smaller, STYPE = integer, SORTOP = <);
CREATE AGGREGATE "Obj Kinds"."Count Star"(*) (
  SFUNC = "Obj Kinds"."count one", STYPE = bigint, INITCOND = '0');

CREATE TABLE "Obj Kinds"."Mixed Items" (id integer PRIMARY KEY, qty integer, price double precision);
INSERT INTO "Obj Kinds"."Mixed Items" VALUES (1, 3, 1.5), (2, 7, 0.5), (3, 4, 2.5);
CREATE VIEW "Obj Kinds"."Item Stats" AS
  SELECT "Obj Kinds"."My Sum"(qty) AS total, "Obj Kinds"."Total Text"(qty) AS label,
         "Obj Kinds"."Nth Value"(2) WITHIN GROUP (ORDER BY price) AS "second price",
         "Obj Kinds"."Hypo Rank"(5) WITHIN GROUP (ORDER BY qty) AS "rank of 5",
         "Obj Kinds"."Least Of"(qty) AS least_qty, "Obj Kinds"."Count Star"(*) AS n
    FROM "Obj Kinds"."Mixed Items";
CREATE VIEW "Obj Kinds"."Running Sum" AS
  SELECT id, "Obj Kinds"."My Sum"(qty) OVER (ORDER BY id ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS moving
    FROM "Obj Kinds"."Mixed Items";
`;

/** Creates the fixture in `db` (on PostgreSQL 13 to 17). */
export async function createObjectKinds(s: TestServer, db: string): Promise<void> {
  await sql(s, db, FIXTURE);
}
