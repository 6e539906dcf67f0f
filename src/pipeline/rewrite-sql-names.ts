/**
 * Token-aware renaming of names in SQL text (view queries, constraint, index and trigger
 * definitions, defaults, generated expressions, routine bodies), for schema sync under a name
 * mapping. Sans I/O.
 *
 * What is renamed:
 * - schema-qualified names `schema.name` (and `schema.table.column`) of objects the mapping renames,
 *   and any name of a renamed schema: whatever lives in a renamed schema goes with it;
 * - string constants cast to `regclass`, `regtype`, `regproc`, `regprocedure`, `regnamespace`,
 *   `regconfig`, `regdictionary` (`nextval('app.orders_id_seq'::regclass)`): deparsed text names
 *   objects that way;
 * - the schema of `OPERATOR(schema.op)`, as deparsed text names a user operator;
 * - with a column scope (the one table a CHECK, index, generated column or partition key belongs to),
 *   unqualified identifiers in operand position that are columns of that table; `new.col` / `old.col`
 *   with row qualifiers (a trigger's WHEN).
 *
 * What is never touched: string constants (but the casts above), comments, names in function-call
 * position that are not the table's columns, type names after `::`, field selections `(x).field`.
 *
 * What is reported instead of guessed: a qualified name whose first part may also be a range
 * variable (an alias or table name in the same text equal to a renamed schema), chains of four parts,
 * a name that is a table and a function at once in call position. PostgreSQL deparses with every
 * name schema-qualified (the source reads its catalog with an empty search_path), and qualifies
 * columns only with range variables, so for deparsed text the qualified names found are exactly the
 * object references.
 */
import { isSignificant, lexSql, type SqlToken } from '../core/sql-lexer.ts';
import { parseIdentifierPath, quoteIdent, quoteLiteral, type QualifiedName } from '../core/identifier.ts';

/** Source column name → destination name, or null when the column is left out. */
export type ColumnRenames = ReadonlyMap<string, string | null>;

/** A relation or type the mapping knows, as a qualified name resolves. */
export interface ResolvedRelation {
  readonly to: QualifiedName;
  /** For tables: their column renames and exclusions (only changed columns need be present). */
  readonly columns: ColumnRenames | undefined;
}

/** Where names go; built from the model and the task by the schema mapping. */
export interface NameResolver {
  /**
   * Schemas holding a name that changes (renamed schemas, schemas of renamed objects or of tables
   * whose columns change): a qualified name in any other schema is left as it is.
   */
  readonly keySchemas: ReadonlySet<string>;
  /** A relation or type, by source schema and name; undefined when the model does not hold it. */
  relation(schema: string, name: string): ResolvedRelation | undefined;
  /** A routine, by source schema and name (any overload); undefined when the model holds none. */
  routine(schema: string, name: string): QualifiedName | undefined;
  /** The destination schema of objects of source schema `name` not renamed one by one. */
  schema(name: string): string;
}

/** Options of {@link rewriteSqlNames}. */
export interface RewriteOptions {
  /**
   * The columns unqualified identifiers at token `index` may name (the one table of a CHECK, an
   * index, a generated column), or undefined where there are none.
   */
  readonly columnsAt?: (index: number) => ColumnRenames | undefined;
  /**
   * Qualifiers naming a row of one table, and that table's columns: `new` and `old` in a trigger's
   * WHEN clause.
   */
  readonly rows?: { readonly qualifiers: ReadonlySet<string>; readonly columns: ColumnRenames };
  /** More names that may qualify columns (a routine's own name qualifies its parameters). */
  readonly rangeNames?: Iterable<string>;
  /**
   * A query text (a view, a routine body): a renamed table referenced in FROM without an alias gets
   * its old name as alias when columns are qualified with it (`orders.qty`).
   */
  readonly query?: boolean;
  /** Tokens from `lexSql` of the same text, when the caller has them already. */
  readonly tokens?: readonly SqlToken[];
}

/** What a rewrite did and saw. */
export interface RewriteResult {
  readonly text: string;
  readonly changed: boolean;
  /** Columns of the scope that are left out but referenced (the text cannot stand). */
  readonly excluded: readonly string[];
  /** Names that cannot be resolved safely, as written. */
  readonly ambiguous: readonly string[];
  /** Relations and types named with their schema (source names), resolved or not. */
  readonly relations: readonly QualifiedName[];
  /** Identifier values outside the qualified names resolved here (for reference checks). */
  readonly words: ReadonlySet<string>;
  /** Identifiers standing alone (not part of a qualified name), e.g. unqualified table names. */
  readonly standalone: ReadonlySet<string>;
  /** String constants left as they are (not regclass-style casts). */
  readonly strings: readonly string[];
  /** The tokens of the input text. */
  readonly tokens: readonly SqlToken[];
  /** Replacement texts by token index (what `text` was built from). */
  readonly edits: ReadonlyMap<number, string>;
}

// Unquoted key words after which an identifier is an operand (a column may stand there).
const OPERAND_AFTER = new Set([
  'and',
  'or',
  'not',
  'when',
  'then',
  'else',
  'case',
  'in',
  'between',
  'symmetric',
  'asymmetric',
  'like',
  'ilike',
  'escape',
  'from',
  'for',
  'placing',
  'variadic',
  'where',
  'of',
]);
// Functions whose first argument is a key word (EXTRACT(year FROM x), XMLELEMENT(NAME n ...)).
const KEYWORD_FIRST_ARG = new Set(['extract', 'xmlelement', 'xmlpi', 'xmlparse', 'xmlserialize']);
// After IS, words are predicate key words (NOT NULL, DISTINCT, JSON VALUE...) until one of these.
const IS_STOP = new Set(['and', 'or', 'from', 'then', 'else', 'when', 'end']);
// Names always in scope as range variables.
const IMPLICIT_RANGE = ['new', 'old', 'excluded'];
const REG_CASTS = new Set([
  'regclass',
  'regtype',
  'regproc',
  'regprocedure',
  'regnamespace',
  'regconfig',
  'regdictionary',
]);

interface Chain {
  /** Positions in `sig` of the name parts. */
  readonly parts: readonly number[];
  readonly names: readonly (string | undefined)[];
  readonly followedByParen: boolean;
}

const identLike = (t: SqlToken | undefined): boolean => t?.kind === 'ident' || t?.kind === 'quoted-ident';

/**
 * Renames what `names` renames in `text`; see the module comment for what is and is not touched.
 * Replaced names are always quoted (`quoteIdent`); everything else keeps its exact text.
 * @throws {RangeError} when `text` cannot be tokenized (an unterminated string or comment).
 */
export function rewriteSqlNames(text: string, names: NameResolver, o: RewriteOptions = {}): RewriteResult {
  const tokens = o.tokens ?? lexSql(text);
  const sig: number[] = [];
  tokens.forEach((t, i) => {
    if (isSignificant(t)) sig.push(i);
  });
  const tok = (p: number): SqlToken | undefined => (p >= 0 && p < sig.length ? tokens[sig[p]!] : undefined);
  const punct = (p: number, v: string): boolean => {
    const t = tok(p);
    return t !== undefined && (t.kind === 'punct' || t.kind === 'op') && t.value === v;
  };
  const word = (p: number): string | undefined => (tok(p)?.kind === 'ident' ? tok(p)?.value : undefined);

  // The schema of `OPERATOR(schema.op)`: no chain (nor a range variable), renamed as a schema below.
  const operatorSchemas: number[] = [];
  for (let p = 0; p + 4 < sig.length; p++) {
    if (word(p) === 'operator' && punct(p + 1, '(') && identLike(tok(p + 2)) && punct(p + 3, '.')) {
      if (tok(p + 4)?.kind === 'op') operatorSchemas.push(p + 2);
    }
  }
  // Qualified names (chains of identifiers joined by dots), and the names standing alone.
  const chains: Chain[] = [];
  const inChain = new Set<number>(operatorSchemas);
  for (let p = 0; p < sig.length; p++) {
    if (!identLike(tok(p)) || inChain.has(p) || punct(p - 1, '.')) continue;
    const parts = [p];
    while (punct(parts[parts.length - 1]! + 1, '.') && identLike(tok(parts[parts.length - 1]! + 2))) {
      parts.push(parts[parts.length - 1]! + 2);
    }
    for (const x of parts) inChain.add(x);
    const last = parts[parts.length - 1]!;
    chains.push({ parts, names: parts.map((x) => tok(x)?.value), followedByParen: punct(last + 1, '(') });
  }
  const standalone = new Set<string>();
  const rangeNames = new Set<string>([...IMPLICIT_RANGE, ...(o.rangeNames ?? [])]);
  for (const c of chains) {
    const lastName = c.names[c.names.length - 1];
    if (lastName !== undefined) rangeNames.add(lastName);
    if (c.parts.length === 1 && lastName !== undefined) standalone.add(lastName);
  }

  const edits = new Map<number, string>();
  const resolved = new Set<number>();
  const excluded: string[] = [];
  const ambiguous: string[] = [];
  const relations: QualifiedName[] = [];
  // Renamed tables in FROM position without an alias, whose old name qualifies columns.
  const aliases: { p: number; from: string; to: string }[] = [];
  const rename = (p: number, from: string, to: string): void => {
    if (from !== to) edits.set(sig[p]!, quoteIdent(to));
    resolved.add(p);
  };
  const chainText = (c: Chain): string =>
    text.slice(tokens[sig[c.parts[0]!]!]!.start, tokens[sig[c.parts[c.parts.length - 1]!]!]!.end);
  const renameColumn = (p: number, name: string, columns: ColumnRenames | undefined): void => {
    const to = columns?.get(name);
    if (to === null) excluded.push(name);
    else if (to !== undefined) rename(p, name, to);
  };

  for (const c of chains) {
    if (c.parts.length < 2) continue;
    const [p0, p1] = [c.parts[0]!, c.parts[1]!];
    const [n0, n1] = [c.names[0], c.names[1]];
    if (n0 !== undefined && c.parts.length === 2 && o.rows?.qualifiers.has(n0) && n1 !== undefined) {
      renameColumn(p1, n1, o.rows.columns);
      continue;
    }
    if (n0 === undefined || n1 === undefined) {
      if (c.names.some((x) => x !== undefined && names.keySchemas.has(x))) ambiguous.push(chainText(c));
      continue;
    }
    if (!names.keySchemas.has(n0)) continue;
    if (rangeNames.has(n0) || c.parts.length > 3) {
      ambiguous.push(chainText(c));
      continue;
    }
    if (c.followedByParen && c.parts.length === 3) {
      ambiguous.push(chainText(c));
      continue;
    }
    const rel = names.relation(n0, n1);
    if (c.followedByParen) {
      const fn = names.routine(n0, n1);
      const relMoves = rel !== undefined && (rel.to.name !== n1 || rel.to.schema !== names.schema(n0));
      if (fn !== undefined && relMoves) {
        ambiguous.push(chainText(c));
        continue;
      }
      const to = fn ?? rel?.to ?? { schema: names.schema(n0), name: n1 };
      if (fn === undefined && rel !== undefined) {
        relations.push({ schema: n0, name: n1 });
        if (to.name !== n1 && aliasable(p0, p1, tok, word)) aliases.push({ p: p1, from: n1, to: to.name });
      }
      rename(p0, n0, to.schema);
      rename(p1, n1, to.name);
      continue;
    }
    relations.push({ schema: n0, name: n1 });
    const to = rel?.to ?? { schema: names.schema(n0), name: n1 };
    rename(p0, n0, to.schema);
    rename(p1, n1, to.name);
    if (c.parts.length === 2 && to.name !== n1 && aliasable(p0, p1, tok, word)) {
      aliases.push({ p: p1, from: n1, to: to.name });
    }
    const p2 = c.parts[2];
    const n2 = c.names[2];
    if (p2 !== undefined && n2 !== undefined) {
      resolved.add(p2);
      renameColumn(p2, n2, rel?.columns);
    }
  }

  // `OPERATOR(schema.op)` (deparsed text names a user operator so): the operator's schema moves.
  for (const p of operatorSchemas) {
    const n = tok(p)?.value;
    if (n !== undefined && names.keySchemas.has(n)) rename(p, n, names.schema(n));
  }

  // Unqualified columns of the scope's table.
  if (o.columnsAt !== undefined) {
    const skip = optionLists(sig.length, punct, word);
    for (const c of chains) {
      if (c.parts.length !== 1) continue;
      const p = c.parts[0]!;
      const name = c.names[0];
      if (name === undefined || skip.has(p)) continue;
      const columns = o.columnsAt(sig[p]!);
      if (columns === undefined || !columns.has(name) || !operandAt(p, tok, punct, word)) continue;
      renameColumn(p, name, columns);
    }
  }

  // Constants cast to a catalog reference type.
  const strings: string[] = [];
  for (let p = 0; p < sig.length; p++) {
    const t = tok(p);
    if (t?.kind !== 'string') continue;
    const cast = punct(p + 1, '::') ? castName(p + 2, tok, punct) : undefined;
    const value = t.value;
    if (cast === undefined || !REG_CASTS.has(cast) || value === undefined) {
      if (value !== undefined) strings.push(value);
      continue;
    }
    const r = rewriteRegConstant(cast, value, names);
    if (r.kind === 'ambiguous') ambiguous.push(t.text);
    else if (r.kind === 'unqualified') standalone.add(r.name);
    else if (r.kind === 'renamed') {
      edits.set(sig[p]!, quoteLiteral(r.text));
      if (r.relation !== undefined) relations.push(r.relation);
    }
  }

  const words = new Set<string>();
  for (let p = 0; p < sig.length; p++) {
    const t = tok(p);
    if (identLike(t) && !resolved.has(p) && t?.value !== undefined) words.add(t.value);
  }
  // `FROM app.orders` with `orders.qty` in the query: the implicit range variable is the table's
  // name, so a renamed table keeps its old name as an explicit alias.
  for (const a of o.query === true ? aliases : []) {
    if (words.has(a.from)) edits.set(sig[a.p]!, `${quoteIdent(a.to)} AS ${quoteIdent(a.from)}`);
  }
  const out = edits.size === 0 ? text : tokens.map((t, i) => edits.get(i) ?? t.text).join('');
  return {
    text: out,
    changed: out !== text,
    excluded: [...new Set(excluded)],
    ambiguous,
    relations,
    words,
    standalone,
    strings,
    tokens,
    edits,
  };
}

type Tok = (p: number) => SqlToken | undefined;

// Key words that may follow a table reference in FROM, UPDATE, DELETE or INSERT: not an alias.
const NOT_ALIAS = new Set([
  'where',
  'join',
  'left',
  'right',
  'full',
  'inner',
  'cross',
  'natural',
  'on',
  'using',
  'group',
  'order',
  'limit',
  'offset',
  'union',
  'except',
  'intersect',
  'window',
  'having',
  'for',
  'fetch',
  'tablesample',
  'set',
  'returning',
  'values',
  'select',
  'default',
  'overriding',
  'loop',
  'then',
  'into',
  'end',
  'when',
  'with',
  'lateral',
]);

/**
 * Is the relation named at `p0`..`p1` a table reference (after FROM, JOIN, ONLY, UPDATE, INSERT INTO,
 * in a FROM list or a parenthesised join) without an alias of its own?
 */
function aliasable(p0: number, p1: number, tok: Tok, word: Word): boolean {
  const prev = tok(p0 - 1);
  const inFrom =
    (prev?.kind === 'ident' && ['from', 'join', 'only', 'update'].includes(prev.value ?? '')) ||
    (prev?.kind === 'punct' && (prev.value === ',' || prev.value === '(')) ||
    (word(p0 - 1) === 'into' && ['insert', 'merge'].includes(word(p0 - 2) ?? ''));
  if (!inFrom) return false;
  const next = tok(p1 + 1);
  if (next?.kind === 'quoted-ident') return false;
  return !(next?.kind === 'ident' && (next.value === 'as' || !NOT_ALIAS.has(next.value ?? '')));
}
type Punct = (p: number, v: string) => boolean;
type Word = (p: number) => string | undefined;

/**
 * May an identifier at `p` be a column reference? It is when it stands where an operand stands:
 * after `(`, `,`, `[`, an operator or an operand key word, and not before `(` (a call), `=>` (a
 * named argument) or after `::` (a type). Key words PostgreSQL leaves unquoted as column names
 * (`year`, `zone`, `first`...) thereby stay key words where the grammar uses them:
 * `EXTRACT(year FROM x)`, `AT TIME ZONE`, `NULLS FIRST`, `IS JSON VALUE`, an operator class after
 * a column, `USING btree`, `COLLATE "C"`.
 */
function operandAt(p: number, tok: Tok, punct: Punct, word: Word): boolean {
  if (punct(p + 1, '(') || punct(p + 1, '=>') || punct(p + 1, '.')) return false;
  const prev = tok(p - 1);
  if (prev === undefined) return true;
  if (prev.kind === 'punct') {
    if (prev.value === '(') {
      const fn = word(p - 2);
      return fn === undefined || !KEYWORD_FIRST_ARG.has(fn);
    }
    return prev.value === ',' || prev.value === '[';
  }
  if (prev.kind === 'op') return true;
  if (prev.kind !== 'ident') return false;
  // After IS: predicate key words up to the next connective.
  for (let q = p - 1; q >= 0 && tok(q)?.kind === 'ident'; q--) {
    const w = word(q)!;
    if (IS_STOP.has(w)) break;
    if (w === 'is') return false;
  }
  if (prev.value === 'to') return word(p - 2) === 'similar';
  return OPERAND_AFTER.has(prev.value ?? '');
}

/** Positions inside `WITH (...)` option lists (storage parameters), which hold no columns. */
function optionLists(n: number, punct: Punct, word: Word): Set<number> {
  const skip = new Set<number>();
  for (let p = 0; p < n; p++) {
    if (word(p) !== 'with' || !punct(p + 1, '(')) continue;
    let depth = 0;
    for (let q = p + 1; q < n; q++) {
      if (punct(q, '(')) depth++;
      else if (punct(q, ')') && --depth === 0) break;
      skip.add(q);
    }
  }
  return skip;
}

/** The type name of a `::` cast starting at `p`: its last name part, lower case. */
function castName(p: number, tok: Tok, punct: Punct): string | undefined {
  let q = p;
  if (!identLike(tok(q))) return undefined;
  while (punct(q + 1, '.') && identLike(tok(q + 2))) q += 2;
  return tok(q)?.value;
}

type RegRewrite =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'ambiguous' }
  | { readonly kind: 'unqualified'; readonly name: string }
  | { readonly kind: 'renamed'; readonly text: string; readonly relation: QualifiedName | undefined };

/** Rewrites the text of a `'...'::regclass`-style constant. */
function rewriteRegConstant(cast: string, value: string, names: NameResolver): RegRewrite {
  const paren = cast === 'regprocedure' ? value.indexOf('(') : -1;
  const head = paren >= 0 ? value.slice(0, paren) : value;
  const tail = paren >= 0 ? value.slice(paren) : '';
  let parts: string[];
  try {
    parts = parseIdentifierPath(head);
  } catch {
    // `character varying`, `integer[]`: no user object unless a key schema is named in it.
    return [...names.keySchemas].some((s) => value.includes(s))
      ? { kind: 'ambiguous' }
      : { kind: 'unchanged' };
  }
  if (tail !== '' && [...names.keySchemas].some((s) => tail.includes(s))) return { kind: 'ambiguous' };
  if (cast === 'regnamespace') {
    const s = parts[0];
    if (parts.length !== 1 || s === undefined || names.schema(s) === s) return { kind: 'unchanged' };
    return { kind: 'renamed', text: quoteIdent(names.schema(s)), relation: undefined };
  }
  if (parts.length === 1) return { kind: 'unqualified', name: parts[0]! };
  if (parts.length !== 2) return { kind: 'ambiguous' };
  const [s, n] = parts as [string, string];
  if (!names.keySchemas.has(s)) return { kind: 'unchanged' };
  const rel = cast === 'regclass' || cast === 'regtype' ? names.relation(s, n) : undefined;
  const fn = cast === 'regproc' || cast === 'regprocedure' ? names.routine(s, n) : undefined;
  const to = rel?.to ?? fn ?? { schema: names.schema(s), name: n };
  if (to.schema === s && to.name === n) return { kind: 'unchanged' };
  return {
    kind: 'renamed',
    text: `${quoteIdent(to.schema)}.${quoteIdent(to.name)}${tail}`,
    relation: rel !== undefined ? { schema: s, name: n } : undefined,
  };
}
