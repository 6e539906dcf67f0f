/**
 * A table exercising the value types whose copy or replication often goes wrong: special numeric and
 * float values, infinite dates, arrays with NULLs and quotes, json/jsonb, ranges, bytea, large TOASTed
 * values, enums, domains and composite types, and awkward identifiers.
 */
import { sql, type TestServer } from './servers.ts';

/** Creates schema `types` with table `types."All Types"` and `rows` rows (+ special-value rows). */
export async function createDataTypesTable(
  s: TestServer,
  db: string,
  rows = 200,
  /** Lowest server version the data must fit (numeric Infinity exists from 14). */
  minVersion: number = s.version,
): Promise<void> {
  const numericInf = minVersion >= 14 ? `'Infinity'::numeric` : `'NaN'::numeric`;
  await sql(
    s,
    db,
    `CREATE SCHEMA types;
     CREATE TYPE types.mood AS ENUM ('sad', 'ok', 'happy', 'it''s "complicated"');
     CREATE DOMAIN types.positive AS integer CHECK (VALUE > 0);
     CREATE TYPE types.pair AS (a integer, b text);
     CREATE TABLE types."All Types" (
       id bigint PRIMARY KEY,
       "Select" text,
       n numeric, f8 float8, f4 real,
       ts timestamptz, d date, t time, iv interval,
       ia integer[], ta text[], j json, jb jsonb,
       r int4range, tr tstzrange, b bytea, big text,
       m types.mood, p types.positive, c types.pair, ma types.mood[],
       u uuid, ip inet, bits bit varying(16), tv tsvector, pt point, "Ünïcödé" text
     );
     INSERT INTO types."All Types"
     SELECT g, 'row ' || g || E' with \\\\ backslash and '' quote',
            (g * 1.1)::numeric(20,5), g / 3.0, (g / 7.0)::real,
            '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 minute', date '2000-01-01' + g, time '12:00' + g * interval '1 s',
            make_interval(days => g), ARRAY[g, NULL, -g], ARRAY['a"b', NULL, 'c,d', ''],
            json_build_object('k', g, 'arr', json_build_array(1, 'x')), jsonb_build_object('k', g, 'nested', jsonb_build_object('z', true)),
            int4range(g, g + 10), tstzrange('2024-01-01', '2024-02-01'), decode(md5(g::text), 'hex'),
            CASE WHEN g % 50 = 0 THEN (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 400) i) END,
            (ARRAY['sad','ok','happy','it''s "complicated"']::types.mood[])[1 + g % 4], 1 + g, ROW(g, 'p' || g)::types.pair,
            ARRAY['ok','happy']::types.mood[], md5(g::text)::uuid, ('10.0.' || (g % 256) || '.1')::inet, (g % 65536)::bit(16)::varbit,
            to_tsvector('simple', 'hello world ' || g), point(g, -g), 'ü' || g
       FROM generate_series(1, ${rows}) g;
     INSERT INTO types."All Types" (id, n, f8, f4, ts, d, j, jb, big, "Select") VALUES
       (-1, 'NaN', 'NaN', 'Infinity', 'infinity', '-infinity', 'null', '{}', '', ''),
       (-2, ${numericInf}, '-Infinity', '-0', '-infinity', 'infinity', '[]', '[]', NULL, NULL),
       (-3, 0.000000000000000000001, 1e308, 1.17549435e-38, '1970-01-01 00:00:00.000001+00', '0001-01-01', '"x"', '"\\\\u00e9"', repeat('z', 1000000), 'NULL');`,
  );
}
