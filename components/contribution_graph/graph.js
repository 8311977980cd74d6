// Contribution graph: which input tokens built the selected token, layer by layer, answered in
// the browser (target token, threshold, hide-special never rerun the page).
//
// Contract with Python (typed in components/contribution_graph/__init__.py as ContributionData):
//   data = { data_id, labels[token], special[token] (0/1), num_layers,
//            rows[layer][query] = [key, permille, key, permille, ...] strongest first
//              (ALTI shares of layer `layer`'s input token `key` in its output token `query`,
//               × 1000, rounded; shares under 1 % left out),
//            target, threshold, hide_special, script_runs, ack }
//   Applied when data_id or script_runs (full runs of the page) changes; between those the
//   controls here are the truth. ack: the last `seq` Python has received.
// Shown for tests and the benchmark: data-script-runs, data-ack, data-painted (draws so far) and
// data-painted-at (performance.now() of the frame after the latest drawing), data-edge and
// data-sent (the last seq sent to Python).
// Sent back: state "edge" {layer, source, target, seq} when an edge is clicked (layer 0-based),
//            state "view" {target, threshold, hide_special, seq} when a control changes.
// User text is set with textContent only. Per-instance state lives in a WeakMap keyed by the
// root element; the default export returns a cleanup that removes the listeners.

const ROW = 20;
const MAX_COLUMN = 150;
const MIN_COLUMN = 60;
const LEFT = 130;
const TOP = 28;
const SVG_NS = "http://www.w3.org/2000/svg";
const views = new WeakMap();

function pct(share) {
  return `${(100 * share).toFixed(1)} %`;
}

// The edges on a path into `target` at the top, walking back (explorer.contributions.paths_into).
export function pathsInto(rows, target, threshold, hidden) {
  let targets = new Set([target]);
  const edges = [];
  for (let layer = rows.length - 1; layer >= 0; layer--) {
    const sources = new Set();
    for (const query of [...targets].sort((a, b) => a - b)) {
      const row = rows[layer][query];
      for (let i = 0; i < row.length; i += 2) {
        const key = row[i];
        const share = row[i + 1] / 1000;
        if (share + 1e-9 < threshold || hidden.has(key)) continue;
        edges.push({ layer, source: key, target: query, share });
        sources.add(key);
      }
    }
    targets = sources;
  }
  return edges;
}

function el(name, attributes, text) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// Which tokens have a row: hide-special hides the special tokens except the target.
function hiddenTokens(view) {
  const hidden = new Set();
  if (view.hideSpecial) {
    view.data.special.forEach((s, i) => { if (s && i !== view.target) hidden.add(i); });
  }
  return hidden;
}

// What changes only with the data, hide-special (and a special target) or the width: the rows,
// the layer titles and the token labels. Redrawn in full; threshold and target changes leave
// it alone (at 500 tokens it is 1 000 labels, most of a full redraw's time).
function layout(view) {
  const { data, svg } = view;
  const L = data.num_layers;
  const hidden = hiddenTokens(view);
  const shown = [...Array(data.labels.length).keys()].filter((i) => !hidden.has(i));
  const yOf = new Map(shown.map((token, row) => [token, TOP + row * ROW]));
  // columns shrink to fit the page's width (down to MIN_COLUMN, then the view scrolls)
  const column = Math.max(MIN_COLUMN, Math.min(MAX_COLUMN,
    Math.floor(((view.root.clientWidth || 900) - LEFT * 2 - 4) / Math.max(1, L))));
  const width = LEFT * 2 + column * L;
  const height = TOP + shown.length * ROW + 10;
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const titles = el("g", { "data-role": "titles" });
  for (let c = 0; c <= L; c++) {
    titles.appendChild(el("text", { x: LEFT + c * column, y: 12, "text-anchor": "middle",
      class: "cg-layer-title" }, c === 0 ? "input" : `layer ${c}`));
  }
  const edges = el("g", { "data-role": "edges" });
  const nodes = el("g", { "data-role": "nodes" });
  const labels = el("g", { "data-role": "labels" });
  const rightLabels = new Map();
  for (const [side, x, anchor] of [["left", LEFT - 8, "end"], ["right", LEFT + L * column + 8, "start"]]) {
    for (const token of shown) {
      const label = el("text", { x, y: yOf.get(token), "text-anchor": anchor,
        class: data.special[token] ? "cg-token cg-special" : "cg-token", "data-token": token,
        "data-side": side }, data.labels[token]);
      if (side === "right") rightLabels.set(token, label);
      labels.appendChild(label);
    }
  }
  svg.replaceChildren(titles, edges, nodes, labels);
  Object.assign(view, { hidden, yOf, column, rightLabels, edgesGroup: edges, nodesGroup: nodes,
    markedTarget: null, layoutKey: layoutKey(view) });
}

function layoutKey(view) {
  const specialTarget = view.hideSpecial && view.data.special[view.target] ? view.target : -1;
  return `${view.hideSpecial}|${specialTarget}`;
}

// The paths into the target at the threshold: edges, nodes, the target's label.
function drawPaths(view) {
  const { data, info, yOf, column } = view;
  const L = data.num_layers;
  const edges = pathsInto(data.rows, view.target, view.threshold, view.hidden);
  const lines = document.createDocumentFragment();
  for (const edge of edges) {
    const line = el("line", {
      x1: LEFT + edge.layer * column, y1: yOf.get(edge.source) - 4,
      x2: LEFT + (edge.layer + 1) * column, y2: yOf.get(edge.target) - 4,
      stroke: "rgb(21, 101, 192)", "stroke-opacity": Math.min(1, 0.25 + edge.share),
      "stroke-width": 1 + 7 * edge.share, class: "cg-edge",
      "data-layer": edge.layer + 1, "data-source": edge.source, "data-target": edge.target,
      "data-share": edge.share.toFixed(4),
    });
    line.appendChild(el("title", {}, `${edgeText(view, line)} (click for its heads)`));
    lines.appendChild(line);
  }
  view.edgesGroup.replaceChildren(lines);
  const onPath = new Set(edges.map((e) => `${e.layer}:${e.source}`));
  const dots = document.createDocumentFragment();
  for (let c = 1; c < L; c++) {
    for (const token of yOf.keys()) {
      if (!onPath.has(`${c}:${token}`)) continue;
      dots.appendChild(el("circle", { cx: LEFT + c * column, cy: yOf.get(token) - 4, r: 3,
        fill: "#555" }));
    }
  }
  view.nodesGroup.replaceChildren(dots);
  if (view.markedTarget) view.markedTarget.classList.remove("cg-target");
  view.markedTarget = view.rightLabels.get(view.target) || null;
  if (view.markedTarget) view.markedTarget.classList.add("cg-target");
  view.root.dataset.edges = String(edges.length);
  view.root.dataset.target = String(view.target);
  view.root.dataset.threshold = view.threshold.toFixed(2);
  view.root.dataset.hideSpecial = String(view.hideSpecial);
  if (!info.textContent.startsWith("Selected:")) {
    info.textContent = `${edges.length} edges into ${data.labels[view.target]} at ` +
      `${pct(view.threshold)} or more; click an edge for its split over heads.`;
  }
  view.selectedLine = null;
  view.root.dataset.edge = "";
  markDrawn(view);
}

function edgeText(view, line) {
  const { labels } = view.data;
  const share = Number(line.dataset.share);
  return `layer ${line.dataset.layer}: ${labels[Number(line.dataset.source)]} → ` +
    `${labels[Number(line.dataset.target)]}: ${pct(share)}`;
}

function render(view, relayout = false) {
  if (relayout || view.layoutKey !== layoutKey(view)) layout(view);
  drawPaths(view);
}

// One click listener for the whole drawing: an edge (its split over heads) or a right-hand
// label (the new target).
function onClick(view, event) {
  const node = event.target;
  if (!(node instanceof Element)) return;
  const line = node.closest(".cg-edge");
  if (line) {
    view.seq += 1;
    view.root.dataset.sent = String(view.seq);
    view.api.setStateValue("edge", { layer: Number(line.dataset.layer) - 1,
      source: Number(line.dataset.source), target: Number(line.dataset.target), seq: view.seq });
    view.info.textContent = `Selected: ${edgeText(view, line)}`;
    selectEdge(view, line);
    return;
  }
  if (node.classList.contains("cg-token") && node.dataset.side === "right") {
    setTarget(view, Number(node.dataset.token));
  }
}

// Record when the change is on screen: the frame after the drawing (for tests and the benchmark).
function markDrawn(view) {
  view.draws += 1;
  const draws = view.draws;
  requestAnimationFrame(() => setTimeout(() => {
    if (view.draws !== draws) return;
    view.root.dataset.paintedAt = String(performance.now());
    view.root.dataset.painted = String(draws);
  }, 0));
}

function selectEdge(view, line) {
  if (view.selectedLine) view.selectedLine.classList.remove("cg-selected");
  line.classList.add("cg-selected");
  view.selectedLine = line;
  view.root.dataset.edge = `${line.dataset.layer}:${line.dataset.source}:${line.dataset.target}`;
  markDrawn(view);
}

function sendView(view) {
  view.seq += 1;
  view.root.dataset.sent = String(view.seq);
  view.api.setStateValue("view", { target: view.target, threshold: view.threshold,
    hide_special: view.hideSpecial, seq: view.seq });
}

function setTarget(view, token) {
  view.target = token;
  view.targetSelect.value = String(token);
  view.info.textContent = "";
  render(view);
  sendView(view);
}

function applyData(view, data) {
  view.data = data;
  view.dataId = data.data_id;
  view.scriptRuns = data.script_runs;
  view.target = Math.min(Math.max(0, data.target), data.labels.length - 1);
  view.threshold = data.threshold;
  view.hideSpecial = Boolean(data.hide_special);
  view.targetSelect.replaceChildren();
  data.labels.forEach((label, token) => {
    const option = document.createElement("option");
    option.value = String(token);
    option.textContent = `${token + 1}: ${label}`;
    view.targetSelect.appendChild(option);
  });
  view.targetSelect.value = String(view.target);
  view.thresholdInput.value = String(view.threshold);
  view.thresholdOutput.textContent = pct(view.threshold);
  view.hideInput.checked = view.hideSpecial;
  view.info.textContent = "";
  render(view, true);
  view.root.dataset.ready = data.data_id;
}

function setup(root, api) {
  const view = {
    root, api, seq: 0, draws: 0, selectedLine: null,
    svg: root.querySelector('[data-role="svg"]'),
    info: root.querySelector('[data-role="info"]'),
    targetSelect: root.querySelector('[data-role="target"]'),
    thresholdInput: root.querySelector('[data-role="threshold"]'),
    thresholdOutput: root.querySelector('[data-role="threshold-value"]'),
    hideInput: root.querySelector('[data-role="hide-special"]'),
  };
  const onTarget = () => setTarget(view, Number(view.targetSelect.value));
  const onThreshold = () => {
    view.threshold = Number(view.thresholdInput.value);
    view.thresholdOutput.textContent = pct(view.threshold);
    view.info.textContent = "";
    render(view);
  };
  const onThresholdDone = () => sendView(view);
  const onHide = () => {
    view.hideSpecial = view.hideInput.checked;
    render(view);
    sendView(view);
  };
  view.targetSelect.addEventListener("change", onTarget);
  view.thresholdInput.addEventListener("input", onThreshold);
  view.thresholdInput.addEventListener("change", onThresholdDone);
  view.hideInput.addEventListener("change", onHide);
  const onSvgClick = (event) => onClick(view, event);
  view.svg.addEventListener("click", onSvgClick);
  // Streamlit calls a render's cleanup when a newer render overtakes it too, while the root is
  // still on the page: then nothing is undone. Once the root has left the page, the listeners
  // go and the view is forgotten.
  view.cleanup = () => {
    if (root.isConnected) return;
    view.targetSelect.removeEventListener("change", onTarget);
    view.thresholdInput.removeEventListener("input", onThreshold);
    view.thresholdInput.removeEventListener("change", onThresholdDone);
    view.hideInput.removeEventListener("change", onHide);
    view.svg.removeEventListener("click", onSvgClick);
    views.delete(root);
  };
  views.set(root, view);
  return view;
}

export default function (component) {
  const { data, parentElement } = component;
  const root = parentElement.querySelector(".cg-root");
  if (!root || !data) return undefined;
  const view = views.get(root) || setup(root, component);
  view.api = component;
  root.dataset.ack = String(data.ack || 0);
  root.dataset.scriptRuns = String(data.script_runs);
  if (data.data_id !== view.dataId || data.script_runs !== view.scriptRuns) applyData(view, data);
  return () => view.cleanup();
}
