// exBERT-style attention graph, its controls and a one-head heatmap, answered in the browser.
//
// Contract with Python: the typedefs below are generated from the TypedDicts (GraphData in
// components/attention_graph/__init__.py, GraphHeader in explorer/graph.py), and
// tests/test_graph_contract.py checks both sides against them:
//   data = { file_url, file_id, view, script_runs, ack }
//   - file_url: the analysis packed by explorer.graph.graph_file, fetched ONCE per file_id:
//       "AGP1" | uint32 LE header length | header JSON (GraphHeader) |
//       counts uint16[layer][head][query] | keys uint16[entry] | weights uint16[entry]
//       [| float32 norms[layer][head][key] = ‖f_h(x_key)‖ | float32 totals[layer][head][query]
//          = Σ_k α_qk ‖f_h(x_k)‖, at header.value.offsets: "weights × value norm" draws
//          each packed weight's share α_qk · norms[k] / totals[q] (Kobayashi et al. 2020)]
//     (offsets in header.offsets; row r = (layer*H + head)*n + query owns counts[r] entries,
//     strongest key first; weight = value / 65535). header.words: the word of every token.
//   - view (GraphView): layer, heads, combine, threshold, hide_special, head, selected,
//     selected_side, weighting ("weights" | "value_norm"), words. Applied only when the file
//     or script_runs changes (a full page run); between those, this component's own controls
//     are the truth.
//   - ack: the last `seq` Python has received (shown as data-ack, for tests and the benchmark).
//   - attribution: {label, scores[token]} of a cached attribution, for the tooltips, or null.
// Sent back: state "view" {…view, seq}, state "selection" {token, side, seq}, triggers
// "mask" / "unmask" (token index), "reload" (file id: the file answered 404, serve it again).
// All user text is set with textContent, never as HTML; the
// SVG export escapes it (xmlText).
//
// "Units" are what the columns show: tokens, or words (pieces merged as in
// explorer.words.merge_attention: attention TO a word = sum over its pieces, FROM a word = mean
// over its pieces). state.frozen / view.focus index units; Python hears token indices.

// ---- contract: generated from the Python TypedDicts (python -m components.attention_graph.contract); do not edit by hand ----
/**
 * The JSON header of the binary file (see ``graph.js`` for the arrays after it).
 * @typedef {Object} GraphHeader
 * @property {number} version
 * @property {number} num_layers
 * @property {number} num_heads
 * @property {number} num_tokens
 * @property {number} mass
 * @property {number} max_keys
 * @property {number} entries
 * @property {Array<TokenEntry>} tokens
 * @property {string} special_label
 * @property {Array<number>} offsets
 * @property {(ValuePackHeader | null)} value
 * @property {string} value_note
 * @property {(WordsHeader | null)} words
 */
/**
 * One token of :class:`GraphHeader`: label (plain text), special, mask, predictions.
 * @typedef {Object} TokenEntry
 * @property {string} t
 * @property {1} [s]
 * @property {1} [m]
 * @property {Array<Array<*>>} [p]
 */
/**
 * Where the "weights × value norm" data lies in the file: float32 ``norms[layer][head][key]`` = ‖f_h(x_key)‖ and ``totals[layer][head][query]`` = Σ_k α_qk ‖f_h(x_k)‖; the browser draws each packed weight's share ``α_qk · norms[k] / totals[q]``.
 * @typedef {Object} ValuePackHeader
 * @property {Array<number>} offsets
 */
/**
 * Which word each token belongs to (:class:`explorer.graph.WordMap`).
 * @typedef {Object} WordsHeader
 * @property {Array<number>} of_token
 * @property {Array<string>} labels
 * @property {Array<number>} special
 */
/**
 * What the component receives on every run (small: the analysis travels as a file).
 * @typedef {Object} GraphData
 * @property {string} file_url
 * @property {string} file_id
 * @property {GraphView} view
 * @property {number} script_runs
 * @property {number} ack
 * @property {(AttributionTip | null)} attribution
 */
/**
 * The controls' values; indices are 0-based here, 1-based on screen and in ``data-*``.
 * @typedef {Object} GraphView
 * @property {number} layer
 * @property {Array<number>} heads
 * @property {"mean" | "max"} combine
 * @property {number} threshold
 * @property {boolean} hide_special
 * @property {(number | "mean")} head
 * @property {(number | null)} selected
 * @property {"left" | "right"} selected_side
 * @property {"weights" | "value_norm"} weighting
 * @property {boolean} words
 */
/**
 * A cached attribution result shown in the tooltips (never computed for the graph).
 * @typedef {Object} AttributionTip
 * @property {string} label
 * @property {Array<number>} scores
 */
/**
 * State ``view`` sent by the component.
 * @typedef {Object} ViewEvent
 * @property {number} layer
 * @property {Array<number>} heads
 * @property {string} combine
 * @property {number} threshold
 * @property {boolean} hide_special
 * @property {(number | string)} head
 * @property {string} weighting
 * @property {boolean} words
 * @property {number} seq
 */
/**
 * State ``selection`` sent by the component (a token index: in the word view, the first piece of the frozen word).
 * @typedef {Object} SelectionEvent
 * @property {(number | null)} token
 * @property {string} side
 * @property {number} seq
 */
// ---- end of contract ----

const PACK_VERSION = 2; // explorer.graph.PACK_VERSION
const ROW = 18;
const CLICK_DELAY_MS = 260; // a double-click must not also count as two clicks
const MAX_EDGES_PER_TOKEN = 32;
const SUMMARY_TOP = 3; // items a head box's line shows (as many as fit, whole)
const SUMMARY_LIST = 8; // items its tooltip lists
const HEAD_COLOURS = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a",
  "#637939", "#8c6d31", "#843c39", "#7b4173",
];
const EDGE_COLOUR = "21, 101, 192";
const HEATMAP_MAX_PX = 440;
const GRAPH_MIN_PX = 520; // the graph's own width at least (.ag-scroll's flex basis)
const HEATMAP_LABELS_PX = 84; // the heatmap's row labels (.ag-heatmap-grid's first column)
const LABEL_MIN_PX = 10; // a heatmap label needs this much: else every k-th token is labelled
const COLOUR_BY_HEAD = 4; // with at most this many heads selected, edges take their head's colour
const THUMB_CELLS = 48; // a small map of all heads has at most this many rows and columns
const THUMB_PX = 58;
const MEAN_HEAD = "mean";
const WEIGHTINGS = ["weights", "value_norm"];
const WEIGHTING_NAMES = { weights: "weights", value_norm: "weights × value norm" };
const EXPORT_FONT = "12px monospace";
const EXPORT_COLUMN = 150;
// Viewport top of the graph when a mask edit was asked for (module scope: survives a remount).
let pendingAnchor = null;
let setups = 0; // views built by this page (a remount builds a new one)
// Per-instance state: one view per mounted root element, dropped with it (no DOM expando).
const views = new WeakMap();
// Read-only look at a view's state for browser tests (what it drew, its rows); nothing else.
globalThis.attentionGraphView = (root) => views.get(root);

function fmt(x) {
  return Number(x).toFixed(3).replace(/^0\./, ".");
}

// ---------------------------------------------------------------------------- the file
function readPack(buffer, L, H, n, entries, offsets) {
  const counts = new Uint16Array(buffer, offsets[0], L * H * n);
  const keys = new Uint16Array(buffer, offsets[1], entries);
  const weights = new Uint16Array(buffer, offsets[2], entries);
  const start = new Uint32Array(L * H * n + 1);
  for (let r = 0; r < L * H * n; r++) start[r + 1] = start[r] + counts[r];
  return { keys, weights, start };
}

function parseFile(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== "AGP1") throw new Error("not an attention-graph file");
  const length = new DataView(buffer).getUint32(4, true);
  /** @type {GraphHeader} */
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
  if (header.version !== PACK_VERSION) {
    throw new Error(`attention file version ${header.version}, this view reads ${PACK_VERSION}`);
  }
  const { num_layers: L, num_heads: H, num_tokens: n, entries, offsets } = header;
  const packs = { weights: readPack(buffer, L, H, n, entries, offsets), value_norm: null };
  if (header.value) {
    packs.value_norm = {
      norms: new Float32Array(buffer, header.value.offsets[0], L * H * n),
      totals: new Float32Array(buffer, header.value.offsets[1], L * H * n),
    };
  }
  return { header, L, H, n, packs, tokens: header.tokens, words: header.words || null };
}

// The units the columns show: tokens, or words (their pieces, label, special, mask flags).
function buildUnits(pack, words) {
  const { n, tokens } = pack;
  if (!words) {
    return {
      words: false, n, tokens, unitOf: Uint32Array.from({ length: n }, (_, i) => i),
      pieces: Array.from({ length: n }, (_, i) => [i]),
    };
  }
  const count = words.labels.length;
  const pieces = Array.from({ length: count }, () => []);
  words.of_token.forEach((w, t) => pieces[w].push(t));
  // special as in the token view (all pieces special): "hide <s>, </s>" keeps <mask> words
  const units = pieces.map((members, w) => ({
    t: words.labels[w],
    s: members.every((t) => tokens[t].s) ? 1 : 0,
    m: members.some((t) => tokens[t].m) ? 1 : 0,
  }));
  return { words: true, n: count, tokens: units, unitOf: Uint32Array.from(words.of_token), pieces };
}

function rowIndex(pack, layer, head, query) {
  return (layer * pack.H + head) * pack.n + query;
}

// ------------------------------------------------------------------------- the maths
// One head's row of one query unit, strongest key first: the packed row itself for tokens
// (in "weights × value norm", each weight times its key's value norm over the row's total:
// explorer.graph.packed_value_shares); for words, the mean of the query word's piece rows with
// keys summed into their words (explorer.words.merge_attention on those rows).
function headRow(view, layer, head, q) {
  const pack = view.pack;
  const base = pack.packs.weights;
  const value = view.state.weighting === "value_norm" ? pack.packs.value_norm : null;
  const units = view.units;
  const block = (layer * pack.H + head) * pack.n;
  const weightOf = (r, e) => {
    const w = base.weights[e] / 65535;
    if (!value) return w;
    const total = value.totals[r];
    return total > 0 ? (w * value.norms[block + base.keys[e]]) / total : 0;
  };
  if (!units.words) {
    const r = block + q;
    const from = base.start[r], to = base.start[r + 1];
    const weights = new Float32Array(to - from);
    for (let e = from; e < to; e++) weights[e - from] = weightOf(r, e);
    if (!value) return { keys: base.keys.subarray(from, to), weights };
    const order = Array.from(weights.keys()).sort(
      (a, b) => weights[b] - weights[a] || base.keys[from + a] - base.keys[from + b]);
    return {
      keys: Uint16Array.from(order, (i) => base.keys[from + i]),
      weights: Float32Array.from(order, (i) => weights[i]),
    };
  }
  const pieces = units.pieces[q];
  const merged = new Map();
  for (const p of pieces) {
    const r = block + p;
    for (let e = base.start[r]; e < base.start[r + 1]; e++) {
      const k = units.unitOf[base.keys[e]];
      merged.set(k, (merged.get(k) || 0) + weightOf(r, e) / pieces.length);
    }
  }
  const keys = [...merged.keys()].sort((a, b) => merged.get(b) - merged.get(a) || a - b);
  return { keys, weights: Float32Array.from(keys, (k) => merged.get(k)) };
}

// Combined rows of one layer: for every visible query unit, its keys strongest first. Same rule
// as explorer.graph.combine_heads (mean or max) on the heads' rows.
function combineRows(view, layer, heads, combine, visible) {
  const { n } = view.units;
  const scratch = new Float32Array(n);
  const touched = new Uint8Array(n);
  const rows = new Array(n);
  const list = [];
  for (let q = 0; q < n; q++) {
    if (!visible[q] || !heads.length) { rows[q] = null; continue; }
    list.length = 0;
    for (const h of heads) {
      const row = headRow(view, layer, h, q);
      for (let i = 0; i < row.keys.length; i++) {
        const k = row.keys[i];
        if (!visible[k]) continue;
        const w = row.weights[i];
        if (!touched[k]) { touched[k] = 1; scratch[k] = 0; list.push(k); }
        scratch[k] = combine === "max" ? Math.max(scratch[k], w) : scratch[k] + w;
      }
    }
    const keys = Uint16Array.from(list);
    const weights = new Float32Array(keys.length);
    let mass = 0;
    for (let i = 0; i < keys.length; i++) {
      const w = combine === "max" ? scratch[keys[i]] : scratch[keys[i]] / heads.length;
      weights[i] = w; mass += w; touched[keys[i]] = 0;
    }
    const order = Array.from(keys.keys()).sort((a, b) => weights[b] - weights[a] || keys[a] - keys[b]);
    rows[q] = {
      keys: Uint16Array.from(order, (i) => keys[i]),
      weights: Float32Array.from(order, (i) => weights[i]),
      mass,
    };
  }
  return rows;
}

// Strongest edges of each row until they hold `threshold` of its mass (explorer.graph.prune_edges).
function pruneRows(rows, threshold) {
  const query = [], key = [], weight = [];
  let capped = 0;
  rows.forEach((row, q) => {
    if (!row || threshold <= 0) return;
    let before = 0, kept = 0;
    for (let i = 0; i < row.keys.length; i++) {
      const w = row.weights[i];
      if (!(before < threshold * row.mass - 1e-12) || w <= 0) break;
      if (kept === MAX_EDGES_PER_TOKEN) { capped += 1; break; }
      query.push(q); key.push(row.keys[i]); weight.push(w);
      before += w; kept += 1;
    }
  });
  let scale = 0;
  for (const w of weight) scale = Math.max(scale, w);
  return { query, key, weight, count: query.length, capped, scale: scale || 1 };
}

// ------------------------------------------------------------------------------ setup
function setup(root) {
  const part = (name) => root.querySelector(`[data-role="${name}"]`);
  const view = {
    root,
    layerSelect: part("layer"),
    combineInputs: [...root.querySelectorAll('[data-role="combine"]')],
    threshold: part("threshold"),
    thresholdValue: part("threshold-value"),
    hideSpecial: part("hide-special"),
    hideSpecialLabel: part("hide-special-label"),
    weightingInputs: [...root.querySelectorAll('[data-role="weighting"]')],
    weightingGroup: part("weighting-group"),
    words: part("words"),
    headsCount: part("heads-count"),
    heads: part("heads"),
    info: part("info"),
    scroll: part("scroll"),
    graph: part("graph"),
    left: part("left"),
    right: part("right"),
    canvas: part("canvas"),
    heatmapTitle: part("heatmap-title"),
    heatmap: part("heatmap"),
    heatmapTop: part("heatmap-top"),
    heatmapLeft: part("heatmap-left"),
    thumbs: part("thumbs"),
    thumbsNote: part("thumbs-note"),
    tip: part("tip"),
    status: part("status"),
    statusText: part("status-text"),
    retry: part("retry"),
    state: null, // {layer, heads:[], combine, threshold, hideSpecial, head, frozen, weighting, words}
    units: null, // what the columns show (buildUnits)
    attribution: null, // {label, scores[token]} from Python, or null
    focus: null, // {side, index} under the mouse
    clickTimer: null,
    scrollFrame: 0,
    fetching: null, // AbortController of the file fetch in flight
    disposed: false,
    sequence: 0,
    draws: 0,
  };
  view.layerSelect.addEventListener("change", () => {
    change(view, { layer: Number(view.layerSelect.selectedOptions[0].dataset.index) });
  });
  // the small maps of all heads: a click opens that layer and head alone in the graph
  view.thumbs.addEventListener("click", (event) => {
    const thumb = event.target.closest(".ag-thumb");
    if (!thumb) return;
    openHead(view, Number(thumb.dataset.layer) - 1, Number(thumb.dataset.head) - 1);
  });
  for (const input of view.combineInputs) {
    input.addEventListener("change", () => change(view, { combine: input.value }));
  }
  view.threshold.addEventListener("input", () => {
    change(view, { threshold: Number(view.threshold.value) }, { send: false });
  });
  view.threshold.addEventListener("change", () => sendView(view));
  for (const input of view.weightingInputs) {
    input.addEventListener("change", () => change(view, { weighting: input.value }));
  }
  view.words.addEventListener("change", () => setWords(view, view.words.checked));
  part("export-svg").addEventListener("click", () => {
    download(view, new Blob([exportSvg(view)], { type: "image/svg+xml" }), "svg");
  });
  part("export-png").addEventListener("click", () => {
    exportPng(view).then((blob) => download(view, blob, "png"));
  });
  view.hideSpecial.addEventListener("change", () => {
    const patch = { hideSpecial: view.hideSpecial.checked };
    const frozen = view.state.frozen;
    const unfreeze = patch.hideSpecial && frozen && view.units.tokens[frozen.index].s;
    if (unfreeze) setFrozen(view, null);
    change(view, patch);
    if (unfreeze) sendSelection(view);
  });
  part("all-heads").addEventListener("click", () => {
    change(view, { heads: Array.from({ length: view.pack.H }, (_, h) => h) });
  });
  part("no-heads").addEventListener("click", () => change(view, { heads: [] }));
  view.heads.addEventListener("click", (event) => {
    const box = event.target.closest(".ag-head");
    if (!box) return;
    const head = Number(box.dataset.head);
    const current = new Set(view.state.heads);
    if (current.has(head)) current.delete(head);
    else current.add(head);
    change(view, { heads: [...current].sort((a, b) => a - b) });
  });

  const tokenOf = (event) => event.target.closest(".ag-tok");
  const onOver = (event) => {
    const element = tokenOf(event);
    if (!element) return;
    view.focus = { side: element.dataset.side, index: Number(element.dataset.i) };
    showTip(view, element);
    drawGraph(view);
  };
  const onOut = (event) => {
    const element = tokenOf(event);
    if (!element || element.contains(event.relatedTarget)) return;
    view.focus = null;
    hideTip(view);
    drawGraph(view);
  };
  // A click freezes (or unfreezes) at once; Python hears of it after CLICK_DELAY_MS unless a
  // second click makes it a double-click (whose two clicks undo each other's freeze).
  const onClick = (event) => {
    const element = tokenOf(event);
    if (!element) return;
    hideTip(view);
    const side = element.dataset.side;
    const index = Number(element.dataset.i);
    const frozen = view.state.frozen;
    const same = frozen && frozen.side === side && frozen.index === index;
    setFrozen(view, same ? null : { side, index });
    drawHeads(view);
    drawGraph(view);
    clearTimeout(view.clickTimer);
    view.clickTimer = setTimeout(() => sendSelection(view), CLICK_DELAY_MS);
  };
  const onDoubleClick = (event) => {
    const element = tokenOf(event);
    if (!element) return;
    clearTimeout(view.clickTimer);
    hideTip(view);
    const pieces = view.units.pieces[Number(element.dataset.i)];
    if (pieces.length !== 1) return; // a word of several pieces: the tooltip says what to do
    // the new text may add or drop a table above: keep the graph where the cursor is
    pendingAnchor = view.scroll.getBoundingClientRect().top;
    view.api.setTriggerValue(element.classList.contains("ag-mask") ? "unmask" : "mask", pieces[0]);
  };
  for (const column of [view.left, view.right]) {
    column.addEventListener("mouseover", onOver);
    column.addEventListener("mouseout", onOut);
    column.addEventListener("click", onClick);
    column.addEventListener("dblclick", onDoubleClick);
  }
  view.scroll.addEventListener("mouseleave", () => {
    view.focus = null;
    hideTip(view);
    drawGraph(view);
  });
  view.scroll.addEventListener("scroll", () => {
    hideTip(view);
    if (view.scrollFrame || !view.paint) return;
    view.scrollFrame = requestAnimationFrame(() => { view.scrollFrame = 0; paintEdges(view); });
  }, { passive: true });
  view.heatmap.addEventListener("mousemove", (event) => heatmapTip(view, event));
  view.thumbs.addEventListener("mouseover", (event) => {
    const thumb = event.target.closest(".ag-thumb");
    if (thumb) thumb.title = `layer ${thumb.dataset.layer}, head ${thumb.dataset.head}: click to open it in the graph`;
  });
  view.heatmap.addEventListener("mouseleave", () => hideTip(view));
  view.retry.addEventListener("click", () => retryLoad(view));
  part("thumbs-box").addEventListener("toggle", () => { if (view.pack) drawThumbs(view); });
  views.set(root, view);
  setups += 1;
  root.dataset.setups = String(setups);
  return view;
}

function setFrozen(view, frozen) {
  view.state.frozen = frozen;
}

// Tokens ↔ words: the columns are rebuilt; a frozen token becomes its word and back (a word's
// first piece). The scroll box keeps the token view's height, so nothing below moves.
function setWords(view, words) {
  const s = view.state;
  if (s.words === words) return;
  const before = view.units;
  const frozen = s.frozen;
  const token = frozen ? before.pieces[frozen.index][0] : null;
  s.words = words;
  view.units = buildUnits(view.pack, words ? view.pack.words : null);
  buildTokens(view);
  view.focus = null;
  hideTip(view);
  setFrozen(view, frozen ? { side: frozen.side, index: view.units.unitOf[token] } : null);
  view.cachedRows = null;
  view.rowsKey = null;
  change(view, {});
  drawThumbs(view);
  if (frozen) sendSelection(view);
}

// A control changed: update the state, redraw what it touches now, tell Python after.
function change(view, patch, { send = true, graph = true } = {}) {
  Object.assign(view.state, patch);
  syncControls(view);
  if (graph) {
    drawHeads(view);
    drawGraph(view);
  }
  if (graph) drawHeatmap(view);
  if ("hideSpecial" in patch || "weighting" in patch) drawThumbs(view);
  else if ("layer" in patch || "heads" in patch) markThumbs(view);
  if (send) sendView(view);
}

// One layer and head alone (a click on its small map), and the graph scrolled into sight.
function openHead(view, layer, head) {
  if (!(layer >= 0 && layer < view.pack.L && head >= 0 && head < view.pack.H)) return;
  change(view, { layer, heads: [head] });
  view.root.scrollIntoView({ block: "start", behavior: "instant" });
}

// The heatmap's (and Python's) head: the one head selected, else "mean".
function heatmapHead(state) {
  return state.heads.length === 1 ? state.heads[0] : MEAN_HEAD;
}

function sendSelection(view) {
  const frozen = view.state.frozen;
  view.sequence += 1;
  view.root.dataset.seq = String(view.sequence);
  view.api.setStateValue("selection", {
    token: frozen ? view.units.pieces[frozen.index][0] : null,
    side: frozen ? frozen.side : "left", seq: view.sequence,
  });
}

function sendView(view) {
  const s = view.state;
  view.sequence += 1;
  view.root.dataset.seq = String(view.sequence);
  view.api.setStateValue("view", {
    layer: s.layer, heads: s.heads, combine: s.combine, threshold: s.threshold,
    hide_special: s.hideSpecial, head: heatmapHead(s), weighting: s.weighting, words: s.words,
    seq: view.sequence,
  });
}

function hideTip(view) {
  view.tip.hidden = true;
  view.root.dataset.tip = "";
}

function placeTip(view, x, y) {
  view.tip.style.left = `${Math.round(x)}px`;
  view.tip.style.top = `${Math.round(y)}px`;
}

function signed(x) {
  const value = Number(x);
  return (value >= 0 ? "+" : "−") + Math.abs(value).toPrecision(3);
}

function showTip(view, element) {
  const index = Number(element.dataset.i);
  const units = view.units;
  const unit = units.tokens[index];
  if (!unit) return;
  const pieces = units.pieces[index];
  const lines = [];
  if (units.words) {
    lines.push(`word ${index}: ${unit.t}`);
    lines.push(`pieces: ${pieces.map((t) => `${t} ${view.pack.tokens[t].t}`).join(" · ")}`);
  } else {
    lines.push(`token ${index}: ${unit.t}`);
  }
  const token = pieces.length === 1 ? view.pack.tokens[pieces[0]] : null;
  if (token && token.p && token.p.length) {
    lines.push("model predicts here:");
    for (const [text, score] of token.p) lines.push(`  ${JSON.stringify(text)}  ${fmt(score)}`);
  }
  const attribution = view.attribution;
  if (attribution && attribution.scores.length === view.pack.n) {
    let score = 0;
    for (const t of pieces) score += attribution.scores[t];
    lines.push(`attribution ${signed(score)}${units.words && pieces.length > 1 ? " (sum over pieces)" : ""}`);
    lines.push(`  ${attribution.label}`);
  }
  if (pieces.length > 1) lines.push("double-click: switch to pieces to mask one");
  else lines.push(unit.m ? "double-click: unmask" : "double-click: mask this token");
  view.tip.textContent = lines.join("\n");
  view.tip.hidden = false;
  view.root.dataset.tip = String(index);
  const box = element.getBoundingClientRect();
  placeTip(view, box.right + 8, box.top);
}

function heatmapTip(view, event) {
  const shown = view.heatmapUnits;
  if (!shown || !view.heatmapMatrix) { hideTip(view); return; }
  const m = shown.length;
  const box = view.heatmap.getBoundingClientRect();
  const row = Math.floor(((event.clientY - box.top) / box.height) * m);
  const column = Math.floor(((event.clientX - box.left) / box.width) * m);
  if (row < 0 || column < 0 || row >= m || column >= m) { hideTip(view); return; }
  const q = shown[row], k = shown[column];
  const label = (i) => `#${i} ${view.units.tokens[i].t}`;
  const what = view.state.weighting === "value_norm" ? "share of ‖α·f(x)‖" : "weight";
  view.tip.textContent = `query ${label(q)} → key ${label(k)}\n${what} ${fmt(view.heatmapMatrix[row * m + column])}`;
  view.tip.hidden = false;
  view.root.dataset.tip = `heatmap:${q}:${k}`;
  placeTip(view, event.clientX + 12, event.clientY + 12);
}

// ------------------------------------------------------------------ building the DOM
function buildTokens(view) {
  const { tokens } = view.units;
  for (const [column, side] of [[view.left, "left"], [view.right, "right"]]) {
    const fragment = document.createDocumentFragment();
    tokens.forEach((token, index) => {
      const element = document.createElement("div");
      element.className = "ag-tok";
      if (token.s) element.classList.add("ag-special");
      if (token.m) element.classList.add("ag-mask");
      element.dataset.i = String(index);
      element.dataset.side = side;
      element.textContent = token.t;
      fragment.appendChild(element);
    });
    column.replaceChildren(fragment);
  }
  view.leftTokens = [...view.left.children];
  view.rightTokens = [...view.right.children];
  view.root.dataset.units = String(tokens.length);
}

function buildSelects(view) {
  const option = (text, index) => {
    const element = document.createElement("option");
    element.textContent = text;
    element.value = text; // the visible label: one numbering, layer 1 is the first
    element.dataset.index = String(index);
    return element;
  };
  view.layerSelect.replaceChildren(
    ...Array.from({ length: view.pack.L }, (_, l) => option(`layer ${l + 1}`, l)));
  buildThumbs(view);
  const fragment = document.createDocumentFragment();
  view.headBoxes = [];
  for (let head = 0; head < view.pack.H; head++) {
    const box = document.createElement("div");
    box.className = "ag-head";
    box.dataset.head = String(head);
    box.style.setProperty("--head-colour", HEAD_COLOURS[head % HEAD_COLOURS.length]);
    const title = document.createElement("div");
    title.className = "ag-head-title";
    title.textContent = `head ${head + 1}`;
    const to = document.createElement("div");
    to.className = "ag-head-line";
    const from = document.createElement("div");
    from.className = "ag-head-line";
    box.append(title, to, from);
    fragment.appendChild(box);
    view.headBoxes.push({ box, to, from });
  }
  view.heads.replaceChildren(fragment);
}

function syncControls(view) {
  const s = view.state;
  view.layerSelect.selectedIndex = s.layer;
  for (const input of view.combineInputs) input.checked = input.value === s.combine;
  view.threshold.value = String(s.threshold);
  view.thresholdValue.textContent = Number(s.threshold).toFixed(2);
  view.hideSpecial.checked = s.hideSpecial;
  for (const input of view.weightingInputs) {
    input.checked = input.value === s.weighting;
    input.disabled = input.value === "value_norm" && !view.pack.packs.value_norm;
  }
  view.words.checked = s.words;
  view.words.disabled = !view.pack.words;
  const H = view.pack.H;
  view.headsCount.textContent = s.heads.length === H ? `Heads: all ${H} of ${H}`
    : `Heads: ${s.heads.length} of ${H}`;
  for (const element of [...view.leftTokens, ...view.rightTokens]) {
    element.classList.toggle("ag-hidden", s.hideSpecial && element.classList.contains("ag-special"));
  }
  const root = view.root.dataset;
  root.layer = String(s.layer + 1);
  root.heads = s.heads.map((h) => h + 1).join(",");
  root.combine = s.combine;
  root.threshold = String(s.threshold);
  root.hideSpecial = String(s.hideSpecial);
  const head = heatmapHead(s);
  root.head = head === MEAN_HEAD ? MEAN_HEAD : String(head + 1);
  root.weighting = s.weighting;
  root.words = String(s.words);
}

// -------------------------------------------------------------------------- drawing
function visibleMask(view) {
  const { tokens } = view.units;
  return Uint8Array.from(tokens, (t) => (view.state.hideSpecial && t.s ? 0 : 1));
}

function rowsKey(view) {
  const s = view.state;
  return `${view.fileId}|${s.layer}|${s.heads.join(",")}|${s.combine}|${s.hideSpecial}|` +
    `${s.weighting}|${s.words}`;
}

function currentEdges(view) {
  const key = rowsKey(view);
  if (view.rowsKey !== key || !view.cachedRows) {
    const s = view.state;
    view.cachedRows = combineRows(view, s.layer, s.heads, s.combine, visibleMask(view));
    view.rowsKey = key;
    view.edgesKey = null;
  }
  const edgesKey = `${key}|${view.state.threshold}`;
  if (view.edgesKey !== edgesKey) {
    view.edges = pruneRows(view.cachedRows, view.state.threshold);
    view.edgesKey = edgesKey;
  }
  return view.edges;
}

// As many "token .123" items as fit the box's line, whole: never a token cut in the middle.
let measureContext = null;
function fitItems(prefix, items, widthPx, font) {
  if (!measureContext) measureContext = document.createElement("canvas").getContext("2d");
  measureContext.font = font;
  let text = prefix;
  for (let i = 0; i < items.length; i++) {
    const next = text + (i ? ", " : "") + items[i];
    const more = i + 1 < items.length ? ", …" : "";
    if (i > 0 && measureContext.measureText(next + more).width > widthPx) return `${text}, …`;
    text = next;
  }
  return text;
}

function drawHeads(view) {
  const s = view.state;
  const selected = new Set(s.heads);
  const frozen = s.frozen;
  const units = view.units;
  const visible = visibleMask(view);
  const label = (i) => units.tokens[i].t;
  const colours = edgeColours(view);
  view.headBoxes.forEach(({ box, to, from }, head) => {
    box.classList.toggle("ag-on", selected.has(head));
    box.classList.toggle("ag-coloured", colours !== null && selected.has(head));
    const action = selected.has(head) ? "click: leave this head out" : "click: add this head";
    if (!frozen) {
      // the hint is said once, beside All / No heads; the boxes stay empty until a click
      to.textContent = "";
      from.textContent = "";
      box.title = `head ${head + 1} — ${action}`;
      box.dataset.to = "";
      return;
    }
    const t = frozen.index;
    const own = headRow(view, s.layer, head, t);
    const towards = [];
    for (let i = 0; i < own.keys.length && towards.length < SUMMARY_LIST; i++) {
      if (visible[own.keys[i]]) towards.push([own.keys[i], own.weights[i]]);
    }
    const incoming = [];
    for (let q = 0; q < units.n; q++) {
      if (!visible[q]) continue;
      const row = headRow(view, s.layer, head, q);
      for (let i = 0; i < row.keys.length; i++) {
        if (row.keys[i] === t) { incoming.push([q, row.weights[i]]); break; }
      }
    }
    incoming.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const items = (pairs) => pairs.map(([i, w]) => `${label(i)} ${fmt(w)}`);
    const width = (to.clientWidth || 150) - 2;
    const font = getComputedStyle(to).font || "11px sans-serif";
    to.textContent = fitItems("→ ", items(towards.slice(0, SUMMARY_TOP)), width, font);
    from.textContent = fitItems("← ", items(incoming.slice(0, SUMMARY_TOP)), width, font);
    const name = `“${label(t)}”`;
    box.title = `head ${head + 1}, layer ${s.layer + 1} — ${action}\n` +
      `${name} attends to: ${items(towards).join(", ") || "—"}\n` +
      `attend to ${name}: ${items(incoming.slice(0, SUMMARY_LIST)).join(", ") || "—"}`;
    box.dataset.to = towards.length ? String(towards[0][0]) : "";
  });
}

function rgb(hex) {
  const value = parseInt(hex.slice(1), 16);
  return `${value >> 16}, ${(value >> 8) & 255}, ${value & 255}`;
}

// With one to COLOUR_BY_HEAD heads selected, each edge takes the colour of the selected head that
// holds most of it (as exBERT colours edges by head); else null: every edge is blue.
function edgeColours(view) {
  const heads = view.state.heads;
  if (!heads.length || heads.length > COLOUR_BY_HEAD) return null;
  return heads.map((h) => rgb(HEAD_COLOURS[h % HEAD_COLOURS.length]));
}

// edgeHead[e] = the position in state.heads of the head with the largest weight on edge e.
function edgeHeads(view, edges) {
  const key = `${view.edgesKey}|heads`;
  if (view.edgeHeadsKey === key) return view.edgeHeadsCache;
  const s = view.state;
  const result = new Uint8Array(edges.count);
  if (s.heads.length > 1) {
    const rows = new Map();
    const weightOf = (slot, q, k) => {
      const id = slot * view.units.n + q;
      let row = rows.get(id);
      if (!row) { row = headRow(view, s.layer, s.heads[slot], q); rows.set(id, row); }
      for (let i = 0; i < row.keys.length; i++) if (row.keys[i] === k) return row.weights[i];
      return 0;
    };
    for (let e = 0; e < edges.count; e++) {
      let best = 0, bestWeight = -1;
      for (let slot = 0; slot < s.heads.length; slot++) {
        const w = weightOf(slot, edges.query[e], edges.key[e]);
        if (w > bestWeight) { best = slot; bestWeight = w; }
      }
      result[e] = best;
    }
  }
  view.edgeHeadsKey = key;
  view.edgeHeadsCache = result;
  return result;
}

function drawGraph(view) {
  const s = view.state;
  const edges = currentEdges(view);
  const colours = edgeColours(view);
  const owner = colours ? edgeHeads(view, edges) : null;
  const colourOf = (e) => (colours ? colours[owner[e]] : EDGE_COLOUR);
  const visible = visibleMask(view);
  const rowOf = new Int32Array(view.units.n).fill(-1);
  let rows = 0;
  for (let i = 0; i < view.units.n; i++) if (visible[i]) rowOf[i] = rows++;
  const active = view.focus || s.frozen;
  for (const element of view.highlighted || []) {
    element.style.background = "";
    element.classList.remove("ag-focus", "ag-frozen");
  }
  view.highlighted = [];
  // Bucket edges by colour and opacity: one path per bucket keeps 16k edges cheap to stroke.
  const groups = (colours || [EDGE_COLOUR]).map((colour) => ({
    colour, buckets: Array.from({ length: 21 }, () => []),
  }));
  let drawn = 0;
  for (let e = 0; e < edges.count; e++) {
    const level = edges.weight[e] / edges.scale;
    if (active) {
      const index = active.side === "left" ? edges.query[e] : edges.key[e];
      if (index !== active.index) continue;
      const other = active.side === "left" ? view.rightTokens[edges.key[e]]
        : view.leftTokens[edges.query[e]];
      other.style.background = `rgba(${colourOf(e)}, ${0.15 + 0.6 * level})`;
      view.highlighted.push(other);
    }
    groups[colours ? owner[e] : 0].buckets[Math.round(level * 20)].push(e);
    drawn += 1;
  }
  view.paint = { groups, edges, rowOf, rows, active };
  view.root.dataset.edgeColours = colours ? s.heads.map((h) => h + 1).join(",") : "";
  paintEdges(view);
  for (const [state, className] of [[s.frozen, "ag-frozen"], [view.focus, "ag-focus"]]) {
    if (!state) continue;
    const element = (state.side === "left" ? view.leftTokens : view.rightTokens)[state.index];
    if (element) {
      element.classList.add(className);
      view.highlighted.push(element);
    }
  }
  describe(view, edges);
  const root = view.root.dataset;
  root.edgesDrawn = String(drawn);
  root.focus = view.focus ? `${view.focus.side}:${view.focus.index}` : "";
  root.frozen = s.frozen ? `${s.frozen.side}:${s.frozen.index}` : "";
  markDrawn(view);
}

// The canvas covers only the visible part of the scroll area (it is sticky): a 500-token graph
// is 9 000 px tall, and rasterising every line over all of it (no GPU) took most of a second.
// Only lines that cross the visible band are stroked; scrolling repaints the band.
function paintEdges(view) {
  const { canvas, scroll } = view;
  const { groups, edges, rowOf, rows } = view.paint;
  const graphHeight = rows * ROW;
  view.graph.style.height = `${graphHeight}px`;
  // the box keeps the height of all tokens: hiding specials or merging words moves nothing below
  view.scroll.style.minHeight = `${Math.min(view.pack.n * ROW, 720)}px`;
  const width = canvas.clientWidth || 300;
  const height = Math.max(1, Math.min(graphHeight, scroll.clientHeight || graphHeight));
  const top = Math.max(0, Math.min(scroll.scrollTop, graphHeight - height));
  canvas.style.top = `${top}px`;
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.height = `${height}px`;
  }
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, -top * ratio);
  context.clearRect(0, top, width, height);
  // One CSS pixel: at device-pixel ratio 1 Skia strokes it as a hairline, which rasterises in
  // software (no GPU) about 8 times faster than 1.2 px (3 000 lines on 400 × 720: 229 → 25 ms).
  context.lineWidth = 1;
  const bottom = top + height;
  for (const { colour, buckets } of groups) {
    buckets.forEach((bucket, level) => {
      if (!bucket.length || level === 0) return;
      context.strokeStyle = `rgba(${colour}, ${level / 20})`;
      context.beginPath();
      for (const e of bucket) {
        const y1 = (rowOf[edges.query[e]] + 0.5) * ROW;
        const y2 = (rowOf[edges.key[e]] + 0.5) * ROW;
        if ((y1 < top && y2 < top) || (y1 > bottom && y2 > bottom)) continue;
        context.moveTo(0, y1);
        context.lineTo(width, y2);
      }
      context.stroke();
    });
  }
}

// ------------------------------------------------------------------------- export
// What is drawn (layer, heads, weighting, words, threshold, the frozen selection), as a scene
// that both exports draw: SVG (vector lines and text) and PNG (the same drawn on a canvas).
function headsText(view) {
  const s = view.state;
  const H = view.pack.H;
  return s.heads.length === H ? "all heads"
    : s.heads.length ? `heads ${s.heads.map((h) => h + 1).join(", ")}` : "no heads";
}

function exportScene(view) {
  const s = view.state;
  const units = view.units;
  const edges = currentEdges(view);
  const visible = visibleMask(view);
  const rowOf = new Int32Array(units.n).fill(-1);
  let rows = 0;
  for (let i = 0; i < units.n; i++) if (visible[i]) rowOf[i] = rows++;
  const middle = Math.max(160, Math.round(view.canvas.clientWidth || 300));
  const column = EXPORT_COLUMN;
  const top = 46;
  const width = 2 * column + middle;
  const height = top + rows * ROW + 8;
  const y = (i) => top + (rowOf[i] + 0.5) * ROW;
  const frozen = s.frozen;
  const titles = [
    `Layer ${s.layer + 1}, ${headsText(view)} (${s.combine}); ${WEIGHTING_NAMES[s.weighting]}; ` +
      `${s.words ? "words" : "tokens"}; ${Math.round(s.threshold * 100)}% kept per ${s.words ? "word" : "token"}`,
    frozen ? `selected: ${s.words ? "word" : "token"} ${frozen.index} “${units.tokens[frozen.index].t}” ` +
      `(${frozen.side === "left" ? "its attention" : "attention to it"})` : "no selection: all edges",
  ];
  const lines = [];
  const rects = [];
  const shade = new Map();
  const colours = edgeColours(view);
  const owner = colours ? edgeHeads(view, edges) : null;
  for (let e = 0; e < edges.count; e++) {
    const level = edges.weight[e] / edges.scale;
    if (frozen) {
      const index = frozen.side === "left" ? edges.query[e] : edges.key[e];
      if (index !== frozen.index) continue;
      shade.set(frozen.side === "left" ? `right:${edges.key[e]}` : `left:${edges.query[e]}`, level);
    }
    const alpha = Math.round(level * 20) / 20;
    if (alpha <= 0) continue;
    lines.push({ x1: column, y1: y(edges.query[e]), x2: column + middle, y2: y(edges.key[e]), alpha,
      colour: colours ? colours[owner[e]] : EDGE_COLOUR });
  }
  const labels = [];
  for (let i = 0; i < units.n; i++) {
    if (!visible[i]) continue;
    const unit = units.tokens[i];
    for (const side of ["left", "right"]) {
      const x0 = side === "left" ? 0 : column + middle;
      const box = { x: x0 + 2, y: y(i) - ROW / 2 + 1, w: column - 4, h: ROW - 2 };
      if (unit.m) rects.push({ ...box, fill: "#ffd180" });
      if (shade.has(`${side}:${i}`)) {
        rects.push({ ...box, fill: `rgba(${EDGE_COLOUR}, ${(0.15 + 0.6 * shade.get(`${side}:${i}`)).toFixed(3)})` });
      }
      if (frozen && frozen.side === side && frozen.index === i) rects.push({ ...box, stroke: "#c62828" });
      labels.push({
        x: side === "left" ? column - 6 : column + middle + 6, y: y(i), text: unit.t,
        anchor: side === "left" ? "end" : "start", fill: unit.s ? "#888888" : "#1a1a1a",
      });
    }
  }
  return { width, height, titles, lines, rects, labels };
}

// XML 1.0 text: escaped, and characters XML cannot hold replaced by U+FFFD.
function xmlText(text) {
  return String(text)
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, "\uFFFD")
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "$1\uFFFD")
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

function exportSvg(view) {
  const scene = exportScene(view);
  const n = (x) => Number(x.toFixed(2));
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${scene.width}" height="${scene.height}" ` +
      `viewBox="0 0 ${scene.width} ${scene.height}" font-family="monospace" font-size="12">`,
    `<rect width="${scene.width}" height="${scene.height}" fill="#ffffff"/>`,
  ];
  scene.titles.forEach((title, i) => {
    out.push(`<text x="4" y="${16 + 18 * i}" font-family="sans-serif" font-size="13"` +
      `${i === 0 ? ' font-weight="600"' : ""} fill="#1a1a1a">${xmlText(title)}</text>`);
  });
  out.push('<g stroke-width="1.2" fill="none">');
  for (const line of scene.lines) {
    out.push(`<line x1="${n(line.x1)}" y1="${n(line.y1)}" x2="${n(line.x2)}" y2="${n(line.y2)}" ` +
      `stroke="rgb(${line.colour})" stroke-opacity="${line.alpha}"/>`);
  }
  out.push("</g>");
  for (const rect of scene.rects) {
    const paint = rect.stroke ? `fill="none" stroke="${rect.stroke}" stroke-width="2"` : `fill="${rect.fill}"`;
    out.push(`<rect x="${n(rect.x)}" y="${n(rect.y)}" width="${n(rect.w)}" height="${n(rect.h)}" rx="3" ${paint}/>`);
  }
  for (const label of scene.labels) {
    out.push(`<text x="${n(label.x)}" y="${n(label.y)}" text-anchor="${label.anchor}" ` +
      `dominant-baseline="central" xml:space="preserve" fill="${label.fill}">${xmlText(label.text)}</text>`);
  }
  out.push("</svg>");
  return out.join("\n");
}

function exportPng(view) {
  const scene = exportScene(view);
  const scale = Math.min(2, 16000 / scene.height);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(scene.width * scale);
  canvas.height = Math.round(scene.height * scale);
  const context = canvas.getContext("2d");
  context.scale(scale, scale);
  context.fillStyle = "#ffffff";
  context.fillRect(0, 0, scene.width, scene.height);
  context.fillStyle = "#1a1a1a";
  context.textBaseline = "alphabetic";
  scene.titles.forEach((title, i) => {
    context.font = `${i === 0 ? "600 " : ""}13px sans-serif`;
    context.fillText(title, 4, 16 + 18 * i);
  });
  context.lineWidth = 1.2;
  for (const line of scene.lines) {
    context.strokeStyle = `rgba(${line.colour}, ${line.alpha})`;
    context.beginPath();
    context.moveTo(line.x1, line.y1);
    context.lineTo(line.x2, line.y2);
    context.stroke();
  }
  for (const rect of scene.rects) {
    if (rect.stroke) {
      context.strokeStyle = rect.stroke;
      context.lineWidth = 2;
      context.strokeRect(rect.x, rect.y, rect.w, rect.h);
    } else {
      context.fillStyle = rect.fill;
      context.fillRect(rect.x, rect.y, rect.w, rect.h);
    }
  }
  context.font = EXPORT_FONT;
  context.textBaseline = "middle";
  for (const label of scene.labels) {
    context.fillStyle = label.fill;
    context.textAlign = label.anchor === "end" ? "right" : "left";
    context.fillText(label.text, label.x, label.y);
  }
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("PNG export failed"))),
      "image/png");
  });
}

function download(view, blob, extension) {
  const s = view.state;
  const heads = s.heads.length === view.pack.H ? "all-heads"
    : `heads-${s.heads.map((h) => h + 1).join("-") || "none"}`;
  const name = `attention-layer${s.layer + 1}-${heads}-${s.weighting.replace("_", "-")}` +
    `${s.words ? "-words" : ""}.${extension}`;
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.hidden = true;
  view.root.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  view.root.dataset.exported = `${extension}:${blob.size}`;
}

function describe(view, edges) {
  const s = view.state;
  const heads = headsText(view);
  const unit = s.words ? "word" : "token";
  const what = s.weighting === "value_norm" ? "share of ‖α·f(x)‖ (weights × value norm)"
    : "attention";
  let text = `Layer ${s.layer + 1}, ${heads} (${s.combine}${s.words ? ", words" : ""}); ` +
    `${edges.count} edges keep ${Math.round(s.threshold * 100)}% of each ${unit}'s ${what}`;
  if (edges.capped) text += ` (at most ${MAX_EDGES_PER_TOKEN} per ${unit}: ${edges.capped} capped)`;
  if (edgeColours(view) && s.heads.length > 1) text += "; colour: the head holding most of each edge";
  text += `. Hover a ${unit} to see its attention, click to freeze, double-click to mask.`;
  view.info.textContent = text;
  view.info.title = text;
}

// The heatmap: the same layer, heads, combination and hidden tokens as the graph, as a matrix
// with the tokens' labels (every k-th when the cells are too small for each to be read).
function heatmapName(view) {
  const s = view.state;
  const H = view.pack.H;
  const heads = s.heads.length === H ? `${s.combine} of all heads`
    : s.heads.length === 1 ? `head ${s.heads[0] + 1}`
      : s.heads.length ? `heads ${s.heads.map((h) => h + 1).join(", ")} (${s.combine})` : "no heads";
  return `Layer ${s.layer + 1}, ${heads}` +
    (s.weighting === "value_norm" ? ", weights × value norm" : "") + (s.words ? ", words" : "") +
    (s.hideSpecial ? `, without ${view.pack.header.special_label || "special tokens"}` : "");
}

function axisLabels(container, shown, units, cell, vertical) {
  const every = Math.max(1, Math.ceil(LABEL_MIN_PX / cell));
  const fragment = document.createDocumentFragment();
  shown.forEach((unit, i) => {
    if (i % every) return;
    const label = document.createElement("div");
    label.className = "ag-hm-label";
    label.textContent = units.tokens[unit].t;
    label.dataset.i = String(unit);
    if (units.tokens[unit].s) label.classList.add("ag-special");
    if (units.tokens[unit].m) label.classList.add("ag-mask");
    const centre = (i + 0.5) * cell;
    if (vertical) label.style.left = `${centre - 7}px`;
    else label.style.top = `${centre - 7}px`;
    fragment.appendChild(label);
  });
  container.replaceChildren(fragment);
}

function drawHeatmap(view) {
  currentEdges(view); // the graph's combined rows (view.cachedRows) for this state
  if (view.heatmapKey === view.rowsKey) return; // the threshold moved: the matrix did not
  view.heatmapKey = view.rowsKey;
  const rows = view.cachedRows;
  const units = view.units;
  const visible = visibleMask(view);
  const shown = [];
  for (let i = 0; i < units.n; i++) if (visible[i]) shown.push(i);
  const m = shown.length;
  const column = new Int32Array(units.n).fill(-1);
  shown.forEach((unit, i) => { column[unit] = i; });
  const matrix = new Float32Array(m * m);
  shown.forEach((q, row) => {
    const combined = rows[q];
    if (!combined) return;
    for (let i = 0; i < combined.keys.length; i++) {
      const at = column[combined.keys[i]];
      if (at >= 0) matrix[row * m + at] = combined.weights[i];
    }
  });
  let top = 1e-9;
  for (let i = 0; i < matrix.length; i++) top = Math.max(top, matrix[i]);
  const pixels = new ImageData(Math.max(m, 1), Math.max(m, 1));
  for (let i = 0; i < matrix.length; i++) {
    const v = matrix[i] / top; // white → dark blue
    pixels.data[4 * i] = Math.round(247 - 239 * v);
    pixels.data[4 * i + 1] = Math.round(251 - 203 * v);
    pixels.data[4 * i + 2] = Math.round(255 - 148 * v);
    pixels.data[4 * i + 3] = 255;
  }
  // beside the graph while both fit (the graph keeps GRAPH_MIN_PX), else below it at full size
  const room = view.root.clientWidth - GRAPH_MIN_PX - HEATMAP_LABELS_PX - 24;
  const limit = room >= 200 ? Math.min(HEATMAP_MAX_PX, room) : HEATMAP_MAX_PX;
  const cell = Math.max(1, Math.min(24, Math.floor(limit / Math.max(m, 1))));
  const size = cell * Math.max(m, 1);
  const canvas = view.heatmap;
  if (canvas.width !== Math.max(m, 1) || canvas.height !== Math.max(m, 1)) {
    canvas.width = Math.max(m, 1);
    canvas.height = Math.max(m, 1);
  }
  canvas.style.width = `${size}px`;
  canvas.style.height = `${size}px`;
  canvas.getContext("2d").putImageData(pixels, 0, 0);
  view.heatmapTop.style.width = `${size}px`;
  view.heatmapLeft.style.height = `${size}px`;
  axisLabels(view.heatmapTop, shown, units, cell, true);
  axisLabels(view.heatmapLeft, shown, units, cell, false);
  view.heatmapMatrix = matrix;
  view.heatmapUnits = shown;
  const title = heatmapName(view);
  view.heatmapTitle.textContent = title;
  view.root.dataset.heatmap = title;
  view.root.dataset.heatmapSize = `${m}x${m}@${cell}`;
  markDrawn(view);
}

// ----------------------------------------------------------- the small maps of all heads
function buildThumbs(view) {
  const { L, H } = view.pack;
  const grid = view.thumbs;
  grid.style.gridTemplateColumns = `56px repeat(${H}, ${THUMB_PX}px)`;
  const cells = [document.createElement("div")];
  for (let h = 0; h < H; h++) {
    const head = document.createElement("div");
    head.className = "ag-thumb-head";
    head.textContent = `head ${h + 1}`;
    cells.push(head);
  }
  view.thumbCanvases = [];
  for (let l = 0; l < L; l++) {
    const name = document.createElement("div");
    name.className = "ag-thumb-layer";
    name.textContent = `layer ${l + 1}`;
    cells.push(name);
    for (let h = 0; h < H; h++) {
      const thumb = document.createElement("canvas");
      thumb.className = "ag-thumb";
      thumb.dataset.layer = String(l + 1);
      thumb.dataset.head = String(h + 1);
      thumb.setAttribute("aria-label", `layer ${l + 1} head ${h + 1}`);
      thumb.style.setProperty("--head-colour", HEAD_COLOURS[h % HEAD_COLOURS.length]);
      cells.push(thumb);
      view.thumbCanvases.push(thumb);
    }
  }
  grid.replaceChildren(...cells);
  view.thumbsKey = null;
}

// Each head of each layer drawn small: rows are queries, columns keys; with more than
// THUMB_CELLS tokens, neighbouring tokens share a cell (attention FROM a cell: the mean of its
// rows; TO a cell: the sum), so a row still sums to 1. Each map is scaled to its own strongest
// cell. Drawn from the file the graph already has: nothing more is sent.
function drawThumbs(view) {
  const box = view.root.querySelector('[data-role="thumbs-box"]');
  const s = view.state;
  const key = `${view.fileId}|${s.hideSpecial}|${s.weighting}|${s.words}`;
  if (!box.open || view.thumbsKey === key) { markThumbs(view); return; }
  const { L, H } = view.pack;
  const units = view.units;
  const visible = visibleMask(view);
  const shown = [];
  for (let i = 0; i < units.n; i++) if (visible[i]) shown.push(i);
  const m = shown.length;
  const T = Math.max(1, Math.min(m, THUMB_CELLS));
  const bin = new Int32Array(units.n).fill(-1);
  const members = new Float32Array(T);
  shown.forEach((unit, i) => { bin[unit] = Math.floor((i * T) / m); members[bin[unit]] += 1; });
  const cells = new Float32Array(T * T);
  const pixels = new ImageData(T, T);
  for (let l = 0; l < L; l++) {
    for (let h = 0; h < H; h++) {
      cells.fill(0);
      for (const q of shown) {
        const row = headRow(view, l, h, q);
        const base = bin[q] * T;
        for (let i = 0; i < row.keys.length; i++) {
          const k = bin[row.keys[i]];
          if (k >= 0) cells[base + k] += row.weights[i] / members[bin[q]];
        }
      }
      let top = 1e-9;
      for (let i = 0; i < cells.length; i++) top = Math.max(top, cells[i]);
      for (let i = 0; i < cells.length; i++) {
        const v = cells[i] / top;
        pixels.data[4 * i] = Math.round(247 - 239 * v);
        pixels.data[4 * i + 1] = Math.round(251 - 203 * v);
        pixels.data[4 * i + 2] = Math.round(255 - 148 * v);
        pixels.data[4 * i + 3] = 255;
      }
      const canvas = view.thumbCanvases[l * H + h];
      if (canvas.width !== T) { canvas.width = T; canvas.height = T; }
      canvas.getContext("2d").putImageData(pixels, 0, 0);
    }
  }
  view.thumbsKey = key;
  const unit = s.words ? "words" : "tokens";
  view.thumbsNote.textContent = `Rows: layers; columns: heads. Each map is one head on this text ` +
    `(rows: query, columns: key), scaled to its own strongest weight` +
    (T < m ? `; ${m} ${unit} shown as ${T} × ${T} cells (neighbours share a cell)` : "") +
    (s.hideSpecial ? `; without ${view.pack.header.special_label || "special tokens"}` : "") + ".";
  view.root.dataset.thumbs = `${L}x${H}@${T}`;
  markThumbs(view);
}

// Outline the heads the graph shows now.
function markThumbs(view) {
  if (!view.thumbCanvases) return;
  const s = view.state;
  const selected = new Set(s.heads);
  const H = view.pack.H;
  view.thumbCanvases.forEach((canvas, index) => {
    const on = Math.floor(index / H) === s.layer && selected.has(index % H);
    canvas.classList.toggle("ag-current", on);
  });
}

// Record when the change is on screen: the frame after the drawing (for tests and the benchmark).
function markDrawn(view) {
  view.draws += 1;
  const draws = view.draws;
  view.root.dataset.draws = String(draws);
  requestAnimationFrame(() => setTimeout(() => {
    if (view.draws !== draws) return;
    view.root.dataset.paintedAt = String(performance.now());
    view.root.dataset.painted = String(draws);
  }, 0));
}

// -------------------------------------------------------------------- Python's view
function applyView(view, pythonView) {
  const { H, L, n } = view.pack;
  const heads = (pythonView.heads || []).filter((h) => h >= 0 && h < H);
  const selected = pythonView.selected;
  const words = Boolean(pythonView.words) && Boolean(view.pack.words);
  const weighting = WEIGHTINGS.includes(pythonView.weighting) &&
    view.pack.packs[pythonView.weighting] ? pythonView.weighting : "weights";
  if (!view.units || view.units.words !== words) {
    view.units = buildUnits(view.pack, words ? view.pack.words : null);
    buildTokens(view);
  }
  view.state = {
    layer: Math.min(Math.max(pythonView.layer | 0, 0), L - 1),
    heads,
    combine: pythonView.combine === "max" ? "max" : "mean",
    threshold: Number(pythonView.threshold) || 0.7,
    hideSpecial: Boolean(pythonView.hide_special),
    frozen: Number.isInteger(selected) && selected >= 0 && selected < n
      ? { side: pythonView.selected_side === "right" ? "right" : "left",
        index: view.units.unitOf[selected] } : null,
    weighting,
    words,
  };
  const frozen = view.state.frozen;
  if (frozen && view.state.hideSpecial && view.units.tokens[frozen.index].s) {
    view.state.frozen = null;
  }
}

function render(view) {
  syncControls(view);
  drawHeads(view);
  drawGraph(view);
  drawHeatmap(view);
  drawThumbs(view);
}

function scrollParent(node) {
  for (let at = node; at; at = at.parentElement || (at.getRootNode && at.getRootNode().host)) {
    const style = getComputedStyle(at);
    if (/(auto|scroll)/.test(style.overflowY) && at.scrollHeight > at.clientHeight) return at;
  }
  return document.scrollingElement;
}

// After a mask edit the page above may have grown (a new table): scroll by as much.
function keepInPlace(view) {
  if (pendingAnchor === null) return;
  const delta = view.scroll.getBoundingClientRect().top - pendingAnchor;
  pendingAnchor = null;
  if (Math.abs(delta) >= 1) scrollParent(view.root.parentElement || view.root).scrollBy(0, delta);
}

// The server drops a file that a page run did not draw again (a run stopped by a newer one, a
// run that ended before the view was reached), and serves it again, under the same URL, as soon
// as a run draws the view. So a 404 asks for a fragment run ("reload") and tries again after a
// growing pause: the browser may not be called again when that run sends the same data, and a
// fragment run asked for during a full run may be dropped; the full run serves the file anyway.
// On a loaded server a full run can take longer than the first pauses, so the view keeps asking
// for about 20 s, saying so; then it says why it is empty and offers a Retry button (which asks
// for a fragment run and starts over). A fetch that hangs is given up after FETCH_TIMEOUT_MS.
const RETRY_PAUSES_MS = [150, 300, 600, 1200, 2400, 4800, 4800, 4800];
const FETCH_TIMEOUT_MS = 30_000;
const SAY_WAITING_FROM = 2; // a first quick 404 or two is normal; say so from the third try

const pause = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// The line above the view that says why it is (still) empty; `retry` shows the Retry button.
function showStatus(view, text, { retry = false } = {}) {
  view.statusText.textContent = text;
  view.retry.hidden = !retry;
  view.status.hidden = false;
  view.root.dataset.loadError = retry ? text : "";
}

function hideStatus(view) {
  view.status.hidden = true;
  view.retry.hidden = true;
  view.root.dataset.loadError = "";
}

async function fetchOnce(view, url) {
  const controller = new AbortController();
  view.fetching = controller;
  const timer = setTimeout(() => controller.abort(new Error("no answer")), FETCH_TIMEOUT_MS);
  try {
    return await fetch(url, { signal: controller.signal });
  } catch (error) {
    if (view.disposed) return null;
    throw controller.signal.aborted
      ? new Error(`the server did not answer within ${FETCH_TIMEOUT_MS / 1000} s`) : error;
  } finally {
    clearTimeout(timer);
    if (view.fetching === controller) view.fetching = null;
  }
}

async function fetchFile(view, data) {
  for (let attempt = 0; ; attempt += 1) {
    const response = await fetchOnce(view, data.file_url);
    if (response === null || view.loading !== data.file_id) return null; // gone or superseded
    if (response.ok || response.status !== 404 || attempt >= RETRY_PAUSES_MS.length) {
      return response;
    }
    if (attempt >= SAY_WAITING_FROM) {
      showStatus(view, `Waiting for the server to send the attention data again (it had ` +
        `dropped it; try ${attempt + 1} of ${RETRY_PAUSES_MS.length + 1}) …`);
    }
    view.api.setTriggerValue("reload", data.file_id);
    await pause(RETRY_PAUSES_MS[attempt]);
    if (view.disposed || view.loading !== data.file_id) return null;
  }
}

function loadFailed(error) {
  const status = error && error.status;
  if (status === 404) {
    return "The attention view could not be loaded: the server no longer has its data " +
      "(HTTP 404; it may be busy). Retry asks for it again.";
  }
  const reason = status ? `HTTP ${status}` : (error && error.message) || "unknown error";
  return `The attention view could not be loaded (${reason}).`;
}

function startLoad(view, data) {
  load(view, data).catch((error) => {
    if (view.disposed || view.loading !== data.file_id) return; // a newer file is on its way
    view.loading = null;
    showStatus(view, loadFailed(error), { retry: true });
  });
}

// The Retry button: ask Python to serve the file again (a fragment run) and load the newest data.
function retryLoad(view) {
  const data = view.latest;
  if (!data || view.loading === data.file_id) return;
  view.retries = (view.retries || 0) + 1;
  view.root.dataset.retries = String(view.retries);
  showStatus(view, "Loading the attention view again …");
  view.api.setTriggerValue("reload", data.file_id);
  startLoad(view, data);
}

async function load(view, data) {
  const fileId = data.file_id;
  view.loading = fileId;
  const response = await fetchFile(view, data);
  if (response === null) return;
  if (!response.ok) {
    throw Object.assign(new Error(`attention file: HTTP ${response.status}`),
                        { status: response.status });
  }
  const buffer = await response.arrayBuffer();
  if (view.disposed || view.loading !== fileId) return; // a newer file was asked for meanwhile
  view.pack = parseFile(buffer);
  view.fileId = fileId;
  view.loading = null;
  hideStatus(view);
  // the model's own names, e.g. "Hide [CLS], [SEP]" for BERT, "Hide <s>, </s>" for RoBERTa
  view.hideSpecialLabel.textContent = `Hide ${view.pack.header.special_label || "special tokens"}`;
  view.cachedRows = null;
  view.rowsKey = null;
  view.units = null; // applyView builds the columns (tokens or words)
  view.weightingGroup.title = view.pack.packs.value_norm
    ? view.weightingGroup.dataset.help : view.pack.header.value_note || "not available";
  buildSelects(view);
  const newest = view.latest && view.latest.file_id === fileId ? view.latest : data;
  applyView(view, newest.view);
  view.scriptRuns = newest.script_runs;
  view.focus = null;
  hideTip(view);
  render(view);
  keepInPlace(view);
  view.root.dataset.loaded = fileId;
}

// Streamlit calls the returned function when it unmounts the component (and, for a render that
// was overtaken by a newer one, at once: then the root is still on the page and nothing is
// undone). It stops what the view still has running and forgets the view.
function dispose(view) {
  if (view.root.isConnected || view.disposed) return;
  view.disposed = true;
  view.loading = null;
  clearTimeout(view.clickTimer);
  if (view.scrollFrame) cancelAnimationFrame(view.scrollFrame);
  if (view.fetching) view.fetching.abort();
  hideTip(view);
  views.delete(view.root);
}

// The maths, for tests under node (tests/js/graph_maths.mjs); Streamlit uses the default export.
export { buildUnits, combineRows, headRow, parseFile, pruneRows };

/** @param {{data: GraphData, parentElement: HTMLElement, setStateValue: Function,
 *           setTriggerValue: Function}} component
 *  @returns {() => void} the cleanup Streamlit calls when it unmounts the view */
export default function (component) {
  const { data, parentElement } = component;
  const root = parentElement.querySelector(".ag-root");
  if (!root || !data) return undefined;
  const view = views.get(root) || setup(root);
  view.api = component;
  view.latest = data; // a load in flight applies the newest run's view when it ends
  root.dataset.ack = String(data.ack);
  view.attribution = data.attribution || null;
  root.dataset.attribution = view.attribution ? view.attribution.label : "";
  root.dataset.scriptRuns = String(data.script_runs);
  if (data.file_id !== view.fileId) {
    if (view.loading !== data.file_id) startLoad(view, data);
  } else if (data.script_runs !== view.scriptRuns) {
    // a full page run: Python's view wins (a shared link, a mask edit, another page)
    view.scriptRuns = data.script_runs;
    applyView(view, data.view);
    render(view);
  }
  // a fragment rerun (same file, same page run): nothing to redo
  return () => dispose(view);
}
