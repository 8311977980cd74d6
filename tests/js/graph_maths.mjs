// Runs the attention view's own maths (components/attention_graph/graph.js) under node, for
// tests/test_graph_contract.py: reads {files: {name: path}, cases: [...]} as JSON on stdin and
// prints, per file, the header graph.js parsed and, per case, the edges it would draw.
import { readFileSync } from "node:fs";
import { buildUnits, combineRows, parseFile, pruneRows } from "../../components/attention_graph/graph.js";

const request = JSON.parse(readFileSync(0, "utf-8"));
const packs = {};
const headers = {};
for (const [name, path] of Object.entries(request.files)) {
  const bytes = readFileSync(path);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  packs[name] = parseFile(buffer);
  headers[name] = packs[name].header;
}
const edges = request.cases.map((c) => {
  const pack = packs[c.file];
  const units = buildUnits(pack, c.words ? pack.words : null);
  const view = { pack, units, state: { weighting: c.weighting } };
  const visible = Uint8Array.from(units.tokens, (unit) => (c.hide_special && unit.s ? 0 : 1));
  const drawn = pruneRows(combineRows(view, c.layer, c.heads, c.combine, visible), c.threshold);
  return { query: drawn.query, key: drawn.key, weight: drawn.weight, capped: drawn.capped };
});
process.stdout.write(JSON.stringify({ headers, edges }));
