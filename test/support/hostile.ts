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
