// Run by `npm run docs` after TypeDoc: every property of every exported `…Options` interface
// must be documented, and an optional one must name its default ("default …", "Default …") or
// say it is off or required. Exits 1 with the list of offenders.
import { readFileSync } from 'node:fs';

const api = JSON.parse(readFileSync(new URL('../docs/api/api.json', import.meta.url), 'utf8'));
const KIND_INTERFACE = 256;
const KIND_PROPERTY = 1024;
const text = (comment) =>
  [...(comment?.summary ?? []), ...(comment?.blockTags ?? []).flatMap((tag) => tag.content)]
    .map((part) => part.text)
    .join('');

const offenders = [];
let checked = 0;
function visit(node, path) {
  const here = node.name ? [...path, node.name] : path;
  if (node.kind === KIND_INTERFACE && /Options$/.test(node.name)) {
    for (const child of node.children ?? []) {
      if (child.kind !== KIND_PROPERTY || child.inheritedFrom) continue;
      checked += 1;
      const doc = text(child.comment);
      const name = `${here.join('.')}.${child.name}`;
      if (!doc.trim()) offenders.push(`${name}: not documented`);
      else if (
        child.flags?.isOptional &&
        !/default|required|\boff\b|\bnone\b|when (set|given)|optional/i.test(doc)
      )
        offenders.push(`${name}: optional, but its default is not named`);
    }
  }
  for (const child of node.children ?? []) visit(child, here);
}
visit(api, []);
if (offenders.length > 0) {
  console.error(
    `${offenders.length} of ${checked} options lack documentation of their default:\n  ${offenders.join('\n  ')}`,
  );
  process.exit(1);
}
console.log(`every option documented with its default: ${checked} options checked`);
