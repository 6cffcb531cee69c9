/**
 * Whether an Iglu schema URI matches a pattern: `*` stands for any run of characters
 * (`iglu:com.acme/user/jsonschema/1-*-*`); a pattern without `*` matches as a prefix
 * (`iglu:com.acme/user/`).
 *
 * @example
 * ```ts
 * import { schemaMatches } from 'consent-tracker';
 * schemaMatches('iglu:com.acme/user/jsonschema/1-*-*', 'iglu:com.acme/user/jsonschema/1-0-2'); // true
 * schemaMatches('iglu:com.acme/user/', 'iglu:com.acme/user/jsonschema/2-0-0'); // true
 * ```
 */
export function schemaMatches(pattern: string, schema: string): boolean {
  if (!pattern.includes('*')) return schema.startsWith(pattern);
  const parts = pattern.split('*');
  let at = 0;
  for (const [i, part] of parts.entries()) {
    const found = i === 0 ? (schema.startsWith(part) ? 0 : -1) : schema.indexOf(part, at);
    if (found < 0) return false;
    at = found + part.length;
  }
  return parts.at(-1) === '' || schema.endsWith(parts.at(-1) as string);
}
