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

function render(view) {
  const { data, svg, info } = view;
  const n = data.labels.length;
  const L = data.num_layers;
  const hidden = new Set();
  if (view.hideSpecial) data.special.forEach((s, i) => { if (s && i !== view.target) hidden.add(i); });
  const shown = [...Array(n).keys()].filter((i) => !hidden.has(i));
  const yOf = new Map(shown.map((token, row) => [token, TOP + row * ROW]));
  // columns shrink to fit the page's width (down to MIN_COLUMN, then the view scrolls)
  const COLUMN = Math.max(MIN_COLUMN, Math.min(MAX_COLUMN,
    Math.floor(((view.root.clientWidth || 900) - LEFT * 2 - 4) / Math.max(1, L))));
  const width = LEFT * 2 + COLUMN * L;
  const height = TOP + shown.length * ROW + 10;
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  for (let c = 0; c <= L; c++) {
    const title = c === 0 ? "input" : `layer ${c}`;
    svg.appendChild(el("text", { x: LEFT + c * COLUMN, y: 12, "text-anchor": "middle",
      class: "cg-layer-title" }, title));
  }
  const edges = pathsInto(data.rows, view.target, view.threshold, hidden);
  const onPath = new Set(edges.map((e) => `${e.layer}:${e.source}`));
  for (const edge of edges) {
    const line = el("line", {
      x1: LEFT + edge.layer * COLUMN, y1: yOf.get(edge.source) - 4,
      x2: LEFT + (edge.layer + 1) * COLUMN, y2: yOf.get(edge.target) - 4,
      stroke: "rgb(21, 101, 192)", "stroke-opacity": Math.min(1, 0.25 + edge.share),
      "stroke-width": 1 + 7 * edge.share, class: "cg-edge",
      "data-layer": edge.layer + 1, "data-source": edge.source, "data-target": edge.target,
      "data-share": edge.share.toFixed(4),
    });
    const tip = `layer ${edge.layer + 1}: ${data.labels[edge.source]} → ` +
      `${data.labels[edge.target]}: ${pct(edge.share)} (click for its heads)`;
    line.appendChild(el("title", {}, tip));
    line.addEventListener("click", () => {
      view.seq += 1;
      view.root.dataset.sent = String(view.seq);
      view.api.setStateValue("edge", { layer: edge.layer, source: edge.source,
        target: edge.target, seq: view.seq });
      info.textContent = `Selected: ${tip.replace(" (click for its heads)", "")}`;
      selectEdge(view, line);
    });
    svg.appendChild(line);
  }
  for (let c = 1; c < L; c++) {
    for (const token of shown) {
      if (!onPath.has(`${c}:${token}`)) continue;
      svg.appendChild(el("circle", { cx: LEFT + c * COLUMN, cy: yOf.get(token) - 4, r: 3,
        fill: "#555" }));
    }
  }
  for (const [side, x, anchor] of [["left", LEFT - 8, "end"], ["right", LEFT + L * COLUMN + 8, "start"]]) {
    for (const token of shown) {
      const classes = ["cg-token"];
      if (data.special[token]) classes.push("cg-special");
      if (side === "right" && token === view.target) classes.push("cg-target");
      const label = el("text", { x, y: yOf.get(token), "text-anchor": anchor,
        class: classes.join(" "), "data-token": token, "data-side": side }, data.labels[token]);
      if (side === "right") label.addEventListener("click", () => setTarget(view, token));
      svg.appendChild(label);
    }
  }
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
  render(view);
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
  // Streamlit calls a render's cleanup when a newer render overtakes it too, while the root is
  // still on the page: then nothing is undone. Once the root has left the page, the listeners
  // go and the view is forgotten.
  view.cleanup = () => {
    if (root.isConnected) return;
    view.targetSelect.removeEventListener("change", onTarget);
    view.thresholdInput.removeEventListener("input", onThreshold);
    view.thresholdInput.removeEventListener("change", onThresholdDone);
    view.hideInput.removeEventListener("change", onHide);
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
