/**
 * Qualified names of relations and other schema objects, and SQL quoting of identifiers and literals.
 * Quoting rules: PostgreSQL docs, "Lexical Structure" (4.1.1 Identifiers and Key Words, 4.1.2.1
 * String Constants). We always quote identifiers, so upper case, spaces, reserved words and
 * non-ASCII names round-trip unchanged.
 */

/** A schema-qualified name, e.g. `{ schema: 'Sales Dept', name: 'Order Items' }`. Case-sensitive. */
export interface QualifiedName {
  readonly schema: string;
  readonly name: string;
}

/** Quotes one identifier: `a"b` → `"a""b"`. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a qualified name: `"schema"."name"`. */
export function quoteQualified(q: QualifiedName): string {
  return `${quoteIdent(q.schema)}.${quoteIdent(q.name)}`;
}

/**
 * Quotes a string literal for a server with `standard_conforming_strings = on` (the default since
 * 9.1; pgdts sets it on every session): only single quotes need doubling.
 */
export function quoteLiteral(value: string): string {
  // Hot in the apply path: most values hold no quote.
  return value.includes("'") ? `'${value.replaceAll("'", "''")}'` : `'${value}'`;
}

/** `schema.name` for messages and keys; not for SQL. */
export function displayName(q: QualifiedName): string {
  return `${q.schema}.${q.name}`;
}

/**
 * Parses one possibly-quoted SQL identifier path such as `sales.orders` or `"Sales Dept"."Order Items"`
 * into its parts, applying PostgreSQL's case folding to unquoted parts.
 * @throws {RangeError} on unbalanced quotes, empty parts or stray characters.
 */
export function parseIdentifierPath(text: string): string[] {
  const parts: string[] = [];
  let i = 0;
  const s = text.trim();
  while (i <= s.length) {
    if (s[i] === '"') {
      let out = '';
      i++;
      for (;;) {
        if (i >= s.length) throw new RangeError(`unterminated quoted identifier in "${text}"`);
        if (s[i] === '"') {
          if (s[i + 1] === '"') {
            out += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        out += s[i];
        i++;
      }
      if (out === '') throw new RangeError(`empty quoted identifier in "${text}"`);
      parts.push(out);
    } else {
      let j = i;
      while (j < s.length && s[j] !== '.') j++;
      const raw = s.slice(i, j).trim();
      if (raw === '') throw new RangeError(`empty name part in "${text}"`);
      if (!/^[\p{L}_][\p{L}\p{N}_$]*$/u.test(raw)) {
        throw new RangeError(
          `"${raw}" in "${text}" must be quoted (it has characters an unquoted name cannot)`,
        );
      }
      parts.push(raw.toLowerCase());
      i = j;
    }
    if (i >= s.length) break;
    if (s[i] !== '.') throw new RangeError(`expected "." after a name part in "${text}"`);
    i++;
    if (i >= s.length) throw new RangeError(`trailing "." in "${text}"`);
  }
  return parts;
}
