/**
 * A small SQL lexer after PostgreSQL's own scanner (src/backend/parser/scan.l; PostgreSQL docs,
 * "Lexical Structure"): enough to find identifiers, quoted identifiers, string constants of every
 * form, comments and punctuation in deparsed catalog text and in SQL or PL/pgSQL routine bodies, so
 * that names can be rewritten without touching what merely looks like a name (a string, a comment).
 * Sans I/O. It does not parse: callers look at token neighbourhoods.
 *
 * Every token keeps its exact source span (`start`, `end`): joining the texts of all tokens gives
 * the input back, which lets a rewrite replace single tokens and keep the rest byte for byte.
 */

/** What a token is. */
export type SqlTokenKind =
  /** Spaces, tabs, newlines, form feeds. */
  | 'space'
  /** `-- ...` to the end of the line, or a (nestable) C-style comment. */
  | 'comment'
  /** An unquoted identifier or key word; `value` is folded to lower case (ASCII only, as PostgreSQL does). */
  | 'ident'
  /** `"..."` or `U&"..."`; `value` is the name (undefined when a UESCAPE clause makes it unknowable here). */
  | 'quoted-ident'
  /** A string constant (see {@link SqlStringForm}); `value` is its contents. */
  | 'string'
  | 'number'
  /** `$1`: a positional parameter. */
  | 'param'
  /** An operator: `=`, `<>`, `||`, `:=`, `=>`, `%`... */
  | 'op'
  /** `(` `)` `[` `]` `,` `;` `:` `::` `.` */
  | 'punct';

/** How a string constant is written (PostgreSQL docs, 4.1.2 "Constants"). */
export type SqlStringForm =
  /** `'...'` (and `N'...'`): `''` is a quote, backslashes are plain. */
  | 'plain'
  /** `E'...'`: C-style backslash escapes. */
  | 'escape'
  /** `U&'...'`: Unicode escapes. */
  | 'unicode'
  /** `$tag$...$tag$`: nothing is escaped. */
  | 'dollar'
  /** `B'...'` or `X'...'`: a bit string. */
  | 'bits';

/** One token. */
export interface SqlToken {
  readonly kind: SqlTokenKind;
  /** Offset of its first character in the input. */
  readonly start: number;
  /** Offset just past its last character. */
  readonly end: number;
  /** The exact input text of the token. */
  readonly text: string;
  /**
   * - `ident`: the lower-cased name; `quoted-ident`: the name; `string`: the contents (undefined
   *   when a Unicode escape cannot be decoded); `op`, `punct`: the text; others: the text.
   */
  readonly value: string | undefined;
  /** For `string` tokens. */
  readonly form?: SqlStringForm;
  /** For dollar-quoted strings: the tag between the dollars (may be empty). */
  readonly tag?: string;
}

const SPACE = /[ \t\n\r\f\v]/;
const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_CONT = /[A-Za-z_0-9$\u0080-\uffff]/;
const OP_CHARS = '+-*/<>=~!@#%^&|`?';
const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z_0-9\u0080-\uffff]*)?\$/;
const NUMBER =
  /^(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*(?:\.(?!\.)[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)/;

/** ASCII-only lower-casing, as PostgreSQL folds unquoted identifiers in UTF-8 databases. */
export function foldIdent(name: string): string {
  return name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/**
 * Splits `text` into tokens covering it completely, in order.
 * @throws {RangeError} on an unterminated string constant, quoted identifier or comment (the
 *   offset is in the message): such text cannot be rewritten safely.
 */
export function lexSql(text: string): SqlToken[] {
  const out: SqlToken[] = [];
  const n = text.length;
  let i = 0;
  const push = (
    kind: SqlTokenKind,
    start: number,
    end: number,
    value: string | undefined,
    extra: { form?: SqlStringForm; tag?: string } = {},
  ): void => {
    out.push({ kind, start, end, text: text.slice(start, end), value, ...extra });
  };
  while (i < n) {
    const c = text[i]!;
    const next = text[i + 1];
    const start = i;
    if (SPACE.test(c)) {
      while (i < n && SPACE.test(text[i]!)) i++;
      push('space', start, i, text.slice(start, i));
    } else if (c === '-' && next === '-') {
      while (i < n && text[i] !== '\n' && text[i] !== '\r') i++;
      push('comment', start, i, text.slice(start, i));
    } else if (c === '/' && next === '*') {
      i = blockCommentEnd(text, i);
      push('comment', start, i, text.slice(start, i));
    } else if (c === "'") {
      const s = quotedEnd(text, i, "'", false);
      push('string', start, s.end, s.body.replaceAll("''", "'"), { form: 'plain' });
      i = s.end;
    } else if ((c === 'e' || c === 'E') && next === "'") {
      const s = quotedEnd(text, i + 1, "'", true);
      push('string', start, s.end, decodeEscapeString(s.body), { form: 'escape' });
      i = s.end;
    } else if ((c === 'n' || c === 'N') && next === "'") {
      const s = quotedEnd(text, i + 1, "'", false);
      push('string', start, s.end, s.body.replaceAll("''", "'"), { form: 'plain' });
      i = s.end;
    } else if ((c === 'b' || c === 'B' || c === 'x' || c === 'X') && next === "'") {
      const s = quotedEnd(text, i + 1, "'", false);
      push('string', start, s.end, s.body, { form: 'bits' });
      i = s.end;
    } else if ((c === 'u' || c === 'U') && next === '&' && (text[i + 2] === "'" || text[i + 2] === '"')) {
      const q = text[i + 2]!;
      const s = quotedEnd(text, i + 2, q, false);
      const raw = s.body.replaceAll(q + q, q);
      if (q === "'") push('string', start, s.end, decodeUnicode(raw, '\\'), { form: 'unicode' });
      else push('quoted-ident', start, s.end, decodeUnicode(raw, '\\'));
      i = s.end;
    } else if (c === '"') {
      const s = quotedEnd(text, i, '"', false);
      push('quoted-ident', start, s.end, s.body.replaceAll('""', '"'));
      i = s.end;
    } else if (c === '$') {
      const tag = DOLLAR_TAG.exec(text.slice(i, i + 128));
      if (tag !== null) {
        const delim = tag[0];
        const close = text.indexOf(delim, i + delim.length);
        if (close < 0) throw new RangeError(`unterminated dollar-quoted string at offset ${start}`);
        i = close + delim.length;
        push('string', start, i, text.slice(start + delim.length, close), {
          form: 'dollar',
          tag: tag[1] ?? '',
        });
      } else if (next !== undefined && /\d/.test(next)) {
        i++;
        while (i < n && /\d/.test(text[i]!)) i++;
        push('param', start, i, text.slice(start, i));
      } else {
        i++;
        push('op', start, i, '$');
      }
    } else if (IDENT_START.test(c)) {
      while (i < n && IDENT_CONT.test(text[i]!)) i++;
      push('ident', start, i, foldIdent(text.slice(start, i)));
    } else if (/\d/.test(c) || (c === '.' && next !== undefined && /\d/.test(next))) {
      const m = NUMBER.exec(text.slice(i));
      i += m?.[0].length ?? 1;
      push('number', start, i, text.slice(start, i));
    } else if (c === ':' && next === ':') {
      i += 2;
      push('punct', start, i, '::');
    } else if (c === ':' && next === '=') {
      i += 2;
      push('op', start, i, ':=');
    } else if ('()[],;:.'.includes(c)) {
      i++;
      push('punct', start, i, c);
    } else if (OP_CHARS.includes(c)) {
      // An operator ends where a comment starts (scan.l: "--" and "/*" inside an operator).
      while (
        i < n &&
        OP_CHARS.includes(text[i]!) &&
        !(i > start && text[i] === '-' && text[i + 1] === '-') &&
        !(i > start && text[i] === '/' && text[i + 1] === '*')
      )
        i++;
      push('op', start, i, text.slice(start, i));
    } else {
      // Anything else (a stray backslash, say) stands alone; it cannot be part of a name.
      i++;
      push('op', start, i, c);
    }
  }
  applyUescape(out);
  return out;
}

function blockCommentEnd(text: string, from: number): number {
  let depth = 0;
  let i = from;
  while (i < text.length) {
    if (text[i] === '/' && text[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (text[i] === '*' && text[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else i++;
  }
  throw new RangeError(`unterminated comment at offset ${from}`);
}

/**
 * The end of a quoted token whose opening quote is at `open`, and its raw body (doubled quotes kept).
 * With `backslash`, `\` escapes the next character (E'' strings).
 */
function quotedEnd(text: string, open: number, q: string, backslash: boolean): { end: number; body: string } {
  let i = open + 1;
  while (i < text.length) {
    const ch = text[i];
    if (backslash && ch === '\\') {
      i += 2;
      continue;
    }
    if (ch === q) {
      if (text[i + 1] === q) {
        i += 2;
        continue;
      }
      return { end: i + 1, body: text.slice(open + 1, i) };
    }
    i++;
  }
  throw new RangeError(`unterminated ${q === '"' ? 'quoted identifier' : 'string'} at offset ${open}`);
}

/** Contents of an E'' string (PostgreSQL docs, 4.1.2.2 "String Constants with C-Style Escapes"). */
function decodeEscapeString(body: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const ch = body[i]!;
    if (ch === "'" && body[i + 1] === "'") {
      out += "'";
      i++;
      continue;
    }
    if (ch !== '\\' || i + 1 >= body.length) {
      out += ch;
      continue;
    }
    const e = body[++i]!;
    const simple: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
    if (simple[e] !== undefined) {
      out += simple[e];
    } else if (/[0-7]/.test(e)) {
      const m = /^[0-7]{1,3}/.exec(body.slice(i))![0];
      out += String.fromCharCode(parseInt(m, 8));
      i += m.length - 1;
    } else if (e === 'x' && /[0-9a-fA-F]/.test(body[i + 1] ?? '')) {
      const m = /^[0-9a-fA-F]{1,2}/.exec(body.slice(i + 1))![0];
      out += String.fromCharCode(parseInt(m, 16));
      i += m.length;
    } else if ((e === 'u' || e === 'U') && /^[0-9a-fA-F]+/.test(body.slice(i + 1))) {
      const len = e === 'u' ? 4 : 8;
      const hex = body.slice(i + 1, i + 1 + len);
      out += String.fromCodePoint(parseInt(hex, 16));
      i += len;
    } else {
      out += e;
    }
  }
  return out;
}

/** Decodes U&'' / U&"" escapes with escape character `esc`; undefined when malformed. */
function decodeUnicode(raw: string, esc: string): string | undefined {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch !== esc) {
      out += ch;
      continue;
    }
    if (raw[i + 1] === esc) {
      out += esc;
      i++;
    } else if (raw[i + 1] === '+' && /^[0-9a-fA-F]{6}$/.test(raw.slice(i + 2, i + 8))) {
      out += String.fromCodePoint(parseInt(raw.slice(i + 2, i + 8), 16));
      i += 7;
    } else if (/^[0-9a-fA-F]{4}$/.test(raw.slice(i + 1, i + 5))) {
      out += String.fromCodePoint(parseInt(raw.slice(i + 1, i + 5), 16));
      i += 4;
    } else {
      return undefined;
    }
  }
  return out;
}

/** Re-decodes Unicode tokens followed by `UESCAPE 'c'` with their own escape character. */
function applyUescape(tokens: SqlToken[]): void {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!t.text.startsWith('U&') && !t.text.startsWith('u&')) continue;
    let j = i + 1;
    while (tokens[j]?.kind === 'space' || tokens[j]?.kind === 'comment') j++;
    if (tokens[j]?.kind !== 'ident' || tokens[j]?.value !== 'uescape') continue;
    let k = j + 1;
    while (tokens[k]?.kind === 'space' || tokens[k]?.kind === 'comment') k++;
    const escTok = tokens[k];
    const esc = escTok?.kind === 'string' ? escTok.value : undefined;
    const q = t.text[2]!;
    const raw = t.text.slice(3, -1).replaceAll(q + q, q);
    const value = esc !== undefined && esc.length === 1 ? decodeUnicode(raw, esc) : undefined;
    tokens[i] = { ...t, value };
  }
}

/** Is `t` neither space nor comment? */
export function isSignificant(t: SqlToken): boolean {
  return t.kind !== 'space' && t.kind !== 'comment';
}
