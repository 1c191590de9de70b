/** Strings that must never be interpreted by a shell: names, tags and arguments from hostile clients. */
export const HOSTILE = [
  '; rm -rf /',
  '$(id)',
  '`id`',
  "it's",
  "'",
  "''",
  '"double" \\ backslash',
  'line1\nline2',
  '\r\n',
  '--force',
  '-rf',
  '*',
  '~root',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal text is the hostile input
  '$HOME ${PATH}',
  '!!',
  'a b\tc',
  '',
  'ünïcödé ✓ 名前',
  '\u202e reversed',
  '&& echo pwned || true | cat > /tmp/x',
  // Noncharacters XML 1.0 cannot hold: refused as tag values (the domain's metadata is XML).
  '\uFFFE',
  'a\uFFFFb',
];

/**
 * Fields the new routes' bodies do not have: misspellings and the replaced service's names (a 422 naming
 * the field, never silently dropped), and field names that are hostile themselves (named back escaped and cut short).
 */
export const HOSTILE_FIELDS = ['flavour', 'name', 'vm-name', 'VM_NAME', 'force ', '__proto__', 'constructor', '$(id)', 'a\nb', 'x'.repeat(300)];
