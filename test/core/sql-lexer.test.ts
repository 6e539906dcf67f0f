/**
 * The SQL lexer (sans I/O): tokens cover the input exactly, and every string and identifier form of
 * PostgreSQL's scanner is one token with its decoded value.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSignificant, lexSql, type SqlToken } from '../../src/core/sql-lexer.ts';

const sig = (text: string): SqlToken[] => lexSql(text).filter(isSignificant);
const kinds = (text: string): string[] => sig(text).map((t) => `${t.kind}:${t.value}`);

test('tokens cover the input byte for byte', () => {
  const samples = [
    `SELECT o."Qty", 'it''s' FROM app.orders o -- note\nWHERE (o.id = 1)`,
    `CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $fn$ BEGIN RETURN 1; END $fn$`,
    `/* a /* nested */ comment */ x::character varying(10)[] E'\\n' U&"d\\0061t\\+000061" $1`,
    `a>=b<>c||d @> e::"Ünï Type" .5 1.5e3 0x1F`,
  ];
  for (const s of samples)
    assert.equal(
      lexSql(s)
        .map((t) => t.text)
        .join(''),
      s,
    );
});

test('identifiers: unquoted ones fold ASCII only, quoted ones keep case, spaces and quotes', () => {
  assert.deepEqual(kinds('Orders "Order Items" "a""b" ÜBER'), [
    'ident:orders',
    'quoted-ident:Order Items',
    'quoted-ident:a"b',
    // PostgreSQL folds only ASCII letters in multibyte encodings.
    'ident:Über',
  ]);
  assert.deepEqual(kinds('U&"d\\0061t\\+000061"'), ['quoted-ident:data']);
  assert.deepEqual(kinds(`U&"d!0061t" UESCAPE '!'`), ['quoted-ident:dat', 'ident:uescape', 'string:!']);
  assert.deepEqual(kinds('a$b$ c$'), ['ident:a$b$', 'ident:c$']);
});

test('strings: plain, E, N, B/X, U& and dollar-quoted, with their contents', () => {
  const t = sig(`'it''s' E'a\\'b\\n\\x41\\101' N'x' B'101' X'1F' U&'\\00e9' $$a 'q' b$$ $tag$x$$y$tag$`);
  assert.deepEqual(
    t.map((x) => [x.form, x.value]),
    [
      ['plain', "it's"],
      ['escape', "a'b\nAA"],
      ['plain', 'x'],
      ['bits', '101'],
      ['bits', '1F'],
      ['unicode', 'é'],
      ['dollar', "a 'q' b"],
      ['dollar', 'x$$y'],
    ],
  );
  assert.equal(t[7]?.tag, 'tag');
  // An identifier ending in e/n/b/x is not a string prefix.
  assert.deepEqual(kinds(`note'x'`), ['ident:note', 'string:x']);
});

test('comments, casts, parameters and operators', () => {
  assert.deepEqual(kinds(`a -- c 'not a string'\n::int /* x */ $2 := => >=`), [
    'ident:a',
    'punct:::',
    'ident:int',
    'param:$2',
    'op::=',
    'op:=>',
    'op:>=',
  ]);
  // An operator stops where a comment starts.
  assert.deepEqual(kinds('a+-- c\nb'), ['ident:a', 'op:+', 'ident:b']);
  assert.deepEqual(kinds('x.y.*'), ['ident:x', 'punct:.', 'ident:y', 'punct:.', 'op:*']);
});

test('unterminated strings, identifiers and comments are refused', () => {
  for (const bad of [`'open`, `"open`, `/* open`, `$q$ open`, `E'x\\'`]) {
    assert.throws(() => lexSql(bad), RangeError, bad);
  }
});
