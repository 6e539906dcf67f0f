/**
 * The "object kinds" fixture: user-defined aggregates of every form (plain with a moving mode and a
 * combine function, with a final function, ordered-set, hypothetical-set, MIN-like with a sort
 * operator, over `*`) with their support functions; operators (binary with commutator, negator and
 * estimators, prefix); an operator family with loose members and operator classes (btree, hash)
 * used by indexes; casts WITH FUNCTION and WITH INOUT (WITHOUT FUNCTION, over base types: base-types-fixtures.ts); libc and ICU
 * (nondeterministic) collations used by a column and a domain; views calling the aggregates and using the
 * operators and casts; a conversion, text search dictionaries and a configuration used by a view;
 * in a second schema a text search template over the built-in dsimple_* functions. Names are awkward
 * (spaces, capitals).
 */
import { sql, type TestServer } from './servers.ts';

/** The schema the fixture creates. */
export const KINDS_SCHEMA = 'Obj Kinds';

/** The schema holding a text search template (made of C functions: it needs a superuser). */
export const TEMPLATE_SCHEMA = 'Obj Kinds Template';

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

CREATE FUNCTION "Obj Kinds"."approx eq"(a double precision, b double precision) RETURNS boolean
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT abs(a - b) < 0.5 $$;
CREATE FUNCTION "Obj Kinds"."approx ne"(a double precision, b double precision) RETURNS boolean
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT abs(a - b) >= 0.5 $$;
CREATE OPERATOR "Obj Kinds".=~= (
  FUNCTION = "Obj Kinds"."approx eq", LEFTARG = double precision, RIGHTARG = double precision,
  COMMUTATOR = OPERATOR("Obj Kinds".=~=), NEGATOR = OPERATOR("Obj Kinds".<~>),
  RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE OPERATOR "Obj Kinds".<~> (
  FUNCTION = "Obj Kinds"."approx ne", LEFTARG = double precision, RIGHTARG = double precision,
  COMMUTATOR = OPERATOR("Obj Kinds".<~>), NEGATOR = OPERATOR("Obj Kinds".=~=));
COMMENT ON OPERATOR "Obj Kinds".=~= (double precision, double precision) IS 'about equal';

CREATE TYPE "Obj Kinds"."Size Class" AS ENUM ('small', 'large');
CREATE FUNCTION "Obj Kinds"."size of"(integer) RETURNS "Obj Kinds"."Size Class"
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT (CASE WHEN $1 < 5 THEN 'small' ELSE 'large' END)::"Obj Kinds"."Size Class" $$;
CREATE OPERATOR "Obj Kinds".~~~ (FUNCTION = "Obj Kinds"."size of", RIGHTARG = integer);
CREATE CAST (integer AS "Obj Kinds"."Size Class") WITH FUNCTION "Obj Kinds"."size of"(integer) AS ASSIGNMENT;
CREATE CAST ("Obj Kinds"."Size Class" AS text) WITH INOUT AS IMPLICIT;
COMMENT ON CAST (integer AS "Obj Kinds"."Size Class") IS 'by size';

CREATE FUNCTION "Obj Kinds"."rev cmp"(a integer, b integer) RETURNS integer
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT CASE WHEN a > b THEN -1 WHEN a < b THEN 1 ELSE 0 END $$;
CREATE FUNCTION "Obj Kinds"."rev cmp big"(a integer, b bigint) RETURNS integer
  LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT CASE WHEN a > b THEN -1 WHEN a < b THEN 1 ELSE 0 END $$;
CREATE OPERATOR FAMILY "Obj Kinds"."Rev Fam" USING btree;
COMMENT ON OPERATOR FAMILY "Obj Kinds"."Rev Fam" USING btree IS 'reversed';
CREATE OPERATOR CLASS "Obj Kinds"."Reverse Int Ops" FOR TYPE integer USING btree FAMILY "Obj Kinds"."Rev Fam" AS
  OPERATOR 1 pg_catalog.>, OPERATOR 2 pg_catalog.>=, OPERATOR 3 pg_catalog.=, OPERATOR 4 pg_catalog.<=,
  OPERATOR 5 pg_catalog.<, FUNCTION 1 "Obj Kinds"."rev cmp"(integer, integer);
ALTER OPERATOR FAMILY "Obj Kinds"."Rev Fam" USING btree ADD
  OPERATOR 1 pg_catalog.> (integer, bigint), FUNCTION 1 (integer, bigint) "Obj Kinds"."rev cmp big"(integer, bigint);
CREATE OPERATOR CLASS "Obj Kinds"."Approx Hash" FOR TYPE double precision USING hash AS
  OPERATOR 1 "Obj Kinds".=~=, FUNCTION 1 pg_catalog.hashfloat8(double precision);
COMMENT ON OPERATOR CLASS "Obj Kinds"."Approx Hash" USING hash IS 'approximately';

CREATE COLLATION "Obj Kinds"."Plain C" (provider = libc, lc_collate = 'C', lc_ctype = 'C');
CREATE COLLATION "Obj Kinds"."Case Blind" (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
COMMENT ON COLLATION "Obj Kinds"."Case Blind" IS 'ICU, nondeterministic';
CREATE DOMAIN "Obj Kinds"."Label" AS text COLLATE "Obj Kinds"."Plain C";
CREATE TABLE "Obj Kinds"."Named Things" (
  id integer PRIMARY KEY, name text COLLATE "Obj Kinds"."Case Blind", label "Obj Kinds"."Label");
INSERT INTO "Obj Kinds"."Named Things" VALUES (1, 'Apple', 'b'), (2, 'apple', 'B');

CREATE CONVERSION "Obj Kinds"."Utf8 To Latin1" FOR 'UTF8' TO 'LATIN1' FROM pg_catalog.utf8_to_iso8859_1;
COMMENT ON CONVERSION "Obj Kinds"."Utf8 To Latin1" IS 'conversion';
CREATE TEXT SEARCH DICTIONARY "Obj Kinds"."Simple Stop" (TEMPLATE = pg_catalog.simple, STOPWORDS = english, ACCEPT = false);
CREATE TEXT SEARCH DICTIONARY "Obj Kinds"."Eng Stem" (TEMPLATE = pg_catalog.snowball, LANGUAGE = english);
COMMENT ON TEXT SEARCH DICTIONARY "Obj Kinds"."Eng Stem" IS 'stems';
CREATE TEXT SEARCH CONFIGURATION "Obj Kinds"."My Search" (PARSER = pg_catalog."default");
ALTER TEXT SEARCH CONFIGURATION "Obj Kinds"."My Search"
  ADD MAPPING FOR asciiword, word WITH "Obj Kinds"."Simple Stop", "Obj Kinds"."Eng Stem";
ALTER TEXT SEARCH CONFIGURATION "Obj Kinds"."My Search" ADD MAPPING FOR int WITH pg_catalog.simple;
COMMENT ON TEXT SEARCH CONFIGURATION "Obj Kinds"."My Search" IS 'search';

CREATE TABLE "Obj Kinds"."Mixed Items" (id integer PRIMARY KEY, qty integer, price double precision);
CREATE INDEX "qty reversed" ON "Obj Kinds"."Mixed Items" (qty "Obj Kinds"."Reverse Int Ops");
CREATE INDEX "price approx" ON "Obj Kinds"."Mixed Items" USING hash (price "Obj Kinds"."Approx Hash");
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
CREATE VIEW "Obj Kinds"."Near One" AS
  SELECT id, OPERATOR("Obj Kinds".~~~) qty AS size, qty::"Obj Kinds"."Size Class" AS class
    FROM "Obj Kinds"."Mixed Items" WHERE price OPERATOR("Obj Kinds".=~=) 1.4::double precision;
CREATE VIEW "Obj Kinds"."Search Words" AS
  SELECT to_tsvector('"Obj Kinds"."My Search"'::regconfig, 'The dogs were running 42 times') AS words;
-- Triggers calling built-in functions (as pagila's film_fulltext_trigger does): no user function.
CREATE TABLE "Obj Kinds"."Documents" (id integer PRIMARY KEY, body text, words tsvector);
CREATE TRIGGER "Words Of Body" BEFORE INSERT OR UPDATE ON "Obj Kinds"."Documents" FOR EACH ROW
  EXECUTE FUNCTION tsvector_update_trigger('words', 'pg_catalog.english', 'body');
CREATE TRIGGER "No Empty Updates" BEFORE UPDATE ON "Obj Kinds"."Documents" FOR EACH ROW
  EXECUTE FUNCTION suppress_redundant_updates_trigger();
INSERT INTO "Obj Kinds"."Documents" (id, body) VALUES (1, 'The dogs were running');

-- A text search template over the server's own C functions.
CREATE SCHEMA "Obj Kinds Template";
CREATE TEXT SEARCH TEMPLATE "Obj Kinds Template"."My Template" (INIT = dsimple_init, LEXIZE = dsimple_lexize);
`;

/** Creates the fixture in `db` (on PostgreSQL 13 to 17). */
export async function createObjectKinds(s: TestServer, db: string): Promise<void> {
  await sql(s, db, FIXTURE);
}
