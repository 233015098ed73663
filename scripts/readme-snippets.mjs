// Reads README.md's code blocks. Every block is preceded by a marker naming it and saying how it
// is checked: <!-- snippet: NAME kind=app|module|types|shell|html [routes=NAME] -->
// `npm run test:consumer` runs or checks each one (test/consumer/snippets.test.ts); this script
// alone lists them, and fails on a block without a marker.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const KINDS = new Set(['app', 'module', 'types', 'shell', 'html']);

/** @returns {{ name: string, kind: string, attrs: Record<string, string>, lang: string, code: string, line: number }[]} */
export function readSnippets(markdown) {
  const lines = markdown.split('\n');
  const snippets = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const marker = /^<!-- snippet: (\S+)((?: \w+=\S+)*) -->$/.exec(lines[i - 1] ?? '');
    if (!marker)
      throw new Error(`README.md:${i + 1}: a code block without a <!-- snippet: NAME kind=… --> marker`);
    const attrs = Object.fromEntries([...marker[2].matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
    if (!KINDS.has(attrs.kind)) throw new Error(`README.md:${i}: snippet ${marker[1]} has no valid kind`);
    if (snippets.some((s) => s.name === marker[1]))
      throw new Error(`README.md:${i}: snippet ${marker[1]} twice`);
    let end = i + 1;
    while (end < lines.length && lines[end] !== '```') end++;
    if (end === lines.length) throw new Error(`README.md:${i + 1}: a code block that never closes`);
    snippets.push({
      name: marker[1],
      kind: attrs.kind,
      attrs,
      lang: open[1],
      code: lines.slice(i + 1, end).join('\n') + '\n',
      line: i + 1,
    });
    i = end;
  }
  return snippets;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  for (const s of readSnippets(readme)) process.stdout.write(`${s.line}\t${s.kind}\t${s.name}\n`);
}
