/**
 * The "base types" fixture: what is made of `LANGUAGE internal` functions (the server's own C code,
 * so no library is needed): a fixed-length base type like int4 (with receive/send, a category, a
 * default, a delimiter), a variable-length collatable one like text, an array-like one like point
 * (ELEMENT, SUBSCRIPT), binary-coercible casts (WITHOUT FUNCTION) between them and built-in types, an
 * operator and an SQL function over the first, domains over it (a CHECK using the operator, one using
 * a cast), a range type with a CANONICAL function, a `LANGUAGE c` function (plpgsql's handler), a
 * text search parser over the built-in prsd_* functions and a template over internal functions of
 * its own, with a dictionary and a configuration using them, and a table with columns of all of it.
 * Names are awkward (quotes, spaces, capitals).
 */
import { sql, type TestServer } from './servers.ts';

/** The schema the fixture creates. */
export const BASE_SCHEMA = 'Base "Ty pes"';

/** `BASE_SCHEMA` quoted as an identifier. */
export const S = `"${BASE_SCHEMA.replaceAll('"', '""')}"`;

/** The table holding rows of the fixture's types. */
export const BASE_TABLE = `${S}."Base Rows"`;

const FIXTURE = `
CREATE SCHEMA ${S};

CREATE TYPE ${S}."My Int";
CREATE FUNCTION ${S}."My Int In"(cstring) RETURNS ${S}."My Int"
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'int4in';
CREATE FUNCTION ${S}."My Int Out"(${S}."My Int") RETURNS cstring
  LANGUAGE internal IMMUTABLE STRICT PARALLEL SAFE AS 'int4out';
CREATE FUNCTION ${S}."My Int Recv"(internal) RETURNS ${S}."My Int"
  LANGUAGE internal IMMUTABLE STRICT AS 'int4recv';
CREATE FUNCTION ${S}."My Int Send"(${S}."My Int") RETURNS bytea
  LANGUAGE internal IMMUTABLE STRICT AS 'int4send';
CREATE TYPE ${S}."My Int" (INPUT = ${S}."My Int In", OUTPUT = ${S}."My Int Out",
  RECEIVE = ${S}."My Int Recv", SEND = ${S}."My Int Send", LIKE = integer,
  CATEGORY = 'N', DEFAULT = '0', DELIMITER = ';');
COMMENT ON TYPE ${S}."My Int" IS 'an int4 look-alike';
COMMENT ON FUNCTION ${S}."My Int In"(cstring) IS 'reads it';
CREATE CAST (${S}."My Int" AS integer) WITHOUT FUNCTION AS IMPLICIT;
CREATE CAST (integer AS ${S}."My Int") WITHOUT FUNCTION AS ASSIGNMENT;
CREATE FUNCTION ${S}."My Int Eq"(${S}."My Int", ${S}."My Int") RETURNS boolean
  LANGUAGE internal IMMUTABLE STRICT AS 'int4eq';
CREATE OPERATOR ${S}.= (FUNCTION = ${S}."My Int Eq", LEFTARG = ${S}."My Int", RIGHTARG = ${S}."My Int",
  COMMUTATOR = OPERATOR(${S}.=), RESTRICT = eqsel, JOIN = eqjoinsel);
CREATE FUNCTION ${S}."Twice"(v ${S}."My Int") RETURNS ${S}."My Int"
  LANGUAGE sql IMMUTABLE AS $$ SELECT (v::integer * 2)::${S}."My Int" $$;
CREATE DOMAIN ${S}."Positive My Int" AS ${S}."My Int" CHECK (NOT VALUE OPERATOR(${S}.=) '0');
-- pg_depend records no dependency of a CHECK on a binary-coercible cast it applies.
CREATE DOMAIN ${S}."Small My Int" AS ${S}."My Int" CHECK (VALUE::integer < 1000000);

CREATE TYPE ${S}.my_text;
CREATE FUNCTION ${S}.my_text_in(cstring) RETURNS ${S}.my_text LANGUAGE internal IMMUTABLE STRICT AS 'textin';
CREATE FUNCTION ${S}.my_text_out(${S}.my_text) RETURNS cstring LANGUAGE internal IMMUTABLE STRICT AS 'textout';
CREATE TYPE ${S}.my_text (INPUT = ${S}.my_text_in, OUTPUT = ${S}.my_text_out, INTERNALLENGTH = VARIABLE,
  STORAGE = extended, ALIGNMENT = int4, COLLATABLE = true, CATEGORY = 'S');
CREATE CAST (${S}.my_text AS text) WITHOUT FUNCTION AS IMPLICIT;

-- Fixed-length and array-like (ELEMENT; SUBSCRIPT is set for it from PostgreSQL 14), like point.
CREATE TYPE ${S}."Pair";
CREATE FUNCTION ${S}."Pair In"(cstring) RETURNS ${S}."Pair" LANGUAGE internal IMMUTABLE STRICT AS 'point_in';
CREATE FUNCTION ${S}."Pair Out"(${S}."Pair") RETURNS cstring LANGUAGE internal IMMUTABLE STRICT AS 'point_out';
CREATE TYPE ${S}."Pair" (INPUT = ${S}."Pair In", OUTPUT = ${S}."Pair Out", INTERNALLENGTH = 16,
  ALIGNMENT = double, ELEMENT = float8);

CREATE TYPE ${S}."Int Span";
CREATE FUNCTION ${S}."Int Span Canon"(${S}."Int Span") RETURNS ${S}."Int Span"
  LANGUAGE internal IMMUTABLE STRICT AS 'int4range_canonical';
CREATE TYPE ${S}."Int Span" AS RANGE (SUBTYPE = integer, CANONICAL = ${S}."Int Span Canon",
  SUBTYPE_DIFF = pg_catalog.int4range_subdiff);
COMMENT ON TYPE ${S}."Int Span" IS 'canonical [) spans';

-- A LANGUAGE c function of a library every server has (plpgsql's call handler).
CREATE FUNCTION ${S}."C Handler"() RETURNS language_handler LANGUAGE c AS '$libdir/plpgsql', 'plpgsql_call_handler';

CREATE TEXT SEARCH PARSER ${S}."My ""Parser""" (START = prsd_start, GETTOKEN = prsd_nexttoken,
  END = prsd_end, LEXTYPES = prsd_lextype, HEADLINE = prsd_headline);
COMMENT ON TEXT SEARCH PARSER ${S}."My ""Parser""" IS 'the default parser again';
CREATE FUNCTION ${S}."simple init"(internal) RETURNS internal LANGUAGE internal STRICT AS 'dsimple_init';
CREATE FUNCTION ${S}."simple lexize"(internal, internal, internal, internal) RETURNS internal
  LANGUAGE internal STRICT AS 'dsimple_lexize';
CREATE TEXT SEARCH TEMPLATE ${S}."My Template" (INIT = ${S}."simple init", LEXIZE = ${S}."simple lexize");
CREATE TEXT SEARCH DICTIONARY ${S}."My Dict" (TEMPLATE = ${S}."My Template", STOPWORDS = english);
CREATE TEXT SEARCH CONFIGURATION ${S}."My Config" (PARSER = ${S}."My ""Parser""");
ALTER TEXT SEARCH CONFIGURATION ${S}."My Config" ADD MAPPING FOR asciiword, word WITH ${S}."My Dict";

CREATE TABLE ${BASE_TABLE} (
  id integer PRIMARY KEY,
  "Small ""N""" ${S}."My Int" NOT NULL DEFAULT '7',
  label ${S}.my_text,
  span ${S}."Int Span",
  pos ${S}."Positive My Int",
  small ${S}."Small My Int",
  many ${S}."My Int"[],
  pair ${S}."Pair");
CREATE INDEX "Span Idx" ON ${BASE_TABLE} USING gist (span);
INSERT INTO ${BASE_TABLE}
  SELECT g, (g * 3)::${S}."My Int", ('label ' || g)::${S}.my_text, ${S}."Int Span"(g, g + 10, '(]'),
         g::${S}."Positive My Int", g::${S}."Small My Int", ARRAY[g, g + 1]::integer[]::${S}."My Int"[], ('(' || g || ',' || -g || ')')::${S}."Pair"
    FROM generate_series(1, 50) g;
CREATE VIEW ${S}."Base View" AS
  SELECT id, ${S}."Twice"("Small ""N""") AS twice, "Small ""N""" OPERATOR(${S}.=) '9'::${S}."My Int" AS nine,
         label::text AS label, upper(span) AS span_upper,
         to_tsvector('${S.replaceAll("'", "''")}."My Config"'::regconfig, 'The Dogs were running') AS words
    FROM ${BASE_TABLE};
`;

/** Creates the fixture in `db` (PostgreSQL 13 to 17). */
export async function createBaseTypes(s: TestServer, db: string): Promise<void> {
  await sql(s, db, FIXTURE);
}
