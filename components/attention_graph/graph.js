// exBERT-style attention graph: two token columns joined by lines whose opacity is the weight.
// Streamlit calls the default export again on every data change with the same parentElement,
// so the view keeps its state on the root element. All user text is set with textContent.

const ROW = 18;
const CLICK_DELAY_MS = 260; // a double-click must not also count as two clicks
const HEAD_COLOURS = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a",
  "#637939", "#8c6d31", "#843c39", "#7b4173",
];
const EDGE_COLOUR = "21, 101, 192";

function decodeEdges(packed) {
  const bytes = Uint8Array.from(atob(packed || ""), (c) => c.charCodeAt(0));
  const view = new DataView(bytes.buffer);
  const count = bytes.length / 6;
  const query = new Uint16Array(count);
  const key = new Uint16Array(count);
  const weight = new Float32Array(count);
  for (let e = 0; e < count; e++) {
    query[e] = view.getUint16(6 * e, true);
    key[e] = view.getUint16(6 * e + 2, true);
    weight[e] = view.getUint16(6 * e + 4, true) / 65535;
  }
  return { query, key, weight, count };
}

function tokenLabel(data, index) {
  const token = data.tokens.find((t) => t.i === index);
  return token ? token.t : String(index);
}

function fmt(x) {
  return Number(x).toFixed(3).replace(/^0\./, ".");
}

function setup(root) {
  const part = (name) => root.querySelector(`[data-role="${name}"]`);
  const view = {
    root,
    info: part("info"),
    heads: part("heads"),
    scroll: part("scroll"),
    graph: part("graph"),
    left: part("left"),
    right: part("right"),
    canvas: part("canvas"),
    tip: part("tip"),
    focus: null, // {side, index} under the mouse
    frozen: null, // {side, index} clicked
    clickTimer: null,
    sequence: 0,
  };
  const onEnter = (event) => {
    const element = event.target.closest(".ag-tok");
    if (!element) return;
    view.focus = { side: element.dataset.side, index: Number(element.dataset.i) };
    showTip(view, element, event);
    draw(view);
  };
  const onLeave = (event) => {
    const element = event.target.closest(".ag-tok");
    if (!element) return;
    view.focus = null;
    view.tip.hidden = true;
    draw(view);
  };
  const onClick = (event) => {
    const element = event.target.closest(".ag-tok");
    if (!element) return;
    const side = element.dataset.side;
    const index = Number(element.dataset.i);
    clearTimeout(view.clickTimer);
    view.clickTimer = setTimeout(() => {
      const same = view.frozen && view.frozen.side === side && view.frozen.index === index;
      view.frozen = same ? null : { side, index };
      draw(view);
      view.sequence += 1;
      view.api.setStateValue("selection", {
        token: same ? null : index,
        side,
        seq: view.sequence,
      });
    }, CLICK_DELAY_MS);
  };
  const onDoubleClick = (event) => {
    const element = event.target.closest(".ag-tok");
    if (!element) return;
    clearTimeout(view.clickTimer);
    const index = Number(element.dataset.i);
    const event_name = element.classList.contains("ag-mask") ? "unmask" : "mask";
    view.api.setTriggerValue(event_name, index);
  };
  for (const column of [view.left, view.right]) {
    column.addEventListener("mouseover", onEnter);
    column.addEventListener("mouseout", onLeave);
    column.addEventListener("click", onClick);
    column.addEventListener("dblclick", onDoubleClick);
  }
  view.heads.addEventListener("click", (event) => {
    const box = event.target.closest(".ag-head");
    if (!box) return;
    const head = Number(box.dataset.head);
    const current = new Set(view.data.heads);
    if (current.has(head)) current.delete(head);
    else current.add(head);
    view.sequence += 1;
    view.api.setStateValue("heads", {
      heads: [...current].sort((a, b) => a - b),
      seq: view.sequence,
    });
  });
  root.__attentionGraph = view;
  return view;
}

function showTip(view, element, event) {
  const index = Number(element.dataset.i);
  const token = view.data.tokens.find((t) => t.i === index);
  if (!token) return;
  const lines = [`token ${index}: ${token.t}`];
  if (token.p && token.p.length) {
    lines.push("model predicts here:");
    for (const [text, score] of token.p) lines.push(`  ${JSON.stringify(text)}  ${fmt(score)}`);
  }
  lines.push(token.m ? "double-click: unmask" : "double-click: mask this token");
  view.tip.textContent = lines.join("\n");
  view.tip.hidden = false;
  const box = element.getBoundingClientRect();
  view.tip.style.left = `${Math.round(box.right + 8)}px`;
  view.tip.style.top = `${Math.round(box.top)}px`;
}

function buildTokens(view) {
  const { data } = view;
  view.row = new Map();
  data.tokens.forEach((token, row) => view.row.set(token.i, row));
  for (const [column, side] of [[view.left, "left"], [view.right, "right"]]) {
    const fragment = document.createDocumentFragment();
    for (const token of data.tokens) {
      const element = document.createElement("div");
      element.className = "ag-tok";
      if (token.s) element.classList.add("ag-special");
      if (token.m) element.classList.add("ag-mask");
      element.dataset.i = String(token.i);
      element.dataset.side = side;
      element.textContent = token.t;
      fragment.appendChild(element);
    }
    column.replaceChildren(fragment);
  }
  view.leftByIndex = new Map([...view.left.children].map((e) => [Number(e.dataset.i), e]));
  view.rightByIndex = new Map([...view.right.children].map((e) => [Number(e.dataset.i), e]));
}

function buildHeads(view) {
  const { data } = view;
  const selected = new Set(data.heads);
  const summaries = new Map(data.summaries.map((s) => [s.head, s]));
  const fragment = document.createDocumentFragment();
  for (let head = 0; head < data.num_heads; head++) {
    const box = document.createElement("div");
    box.className = "ag-head" + (selected.has(head) ? " ag-on" : "");
    box.dataset.head = String(head);
    box.style.setProperty("--head-colour", HEAD_COLOURS[head % HEAD_COLOURS.length]);
    box.title = selected.has(head) ? "click: leave this head out" : "click: add this head";
    const title = document.createElement("div");
    title.className = "ag-head-title";
    title.textContent = `head ${head + 1}`;
    box.appendChild(title);
    const summary = summaries.get(head);
    if (summary) {
      const describe = (pairs) => pairs.map(([i, w]) => `${tokenLabel(data, i)} ${fmt(w)}`).join(", ");
      for (const [arrow, pairs] of [["→ ", summary.to], ["← ", summary.from]]) {
        const line = document.createElement("div");
        line.className = "ag-head-line";
        line.textContent = arrow + describe(pairs);
        box.appendChild(line);
      }
      box.dataset.to = String(summary.to.length ? summary.to[0][0] : "");
    }
    fragment.appendChild(box);
  }
  view.heads.replaceChildren(fragment);
}

function activeSelection(view) {
  return view.focus || view.frozen;
}

function draw(view) {
  const { data, edges, canvas } = view;
  const width = canvas.clientWidth || 300;
  const height = data.tokens.length * ROW;
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.height = `${height}px`;
  }
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.clearRect(0, 0, width, height);
  const active = activeSelection(view);
  for (const element of view.highlighted || []) {
    element.style.background = "";
    element.classList.remove("ag-focus", "ag-frozen");
  }
  view.highlighted = [];
  // Bucket edges by opacity: one path per bucket keeps 16k edges cheap to stroke.
  const buckets = Array.from({ length: 21 }, () => []);
  let drawn = 0;
  for (let e = 0; e < edges.count; e++) {
    if (active) {
      const index = active.side === "left" ? edges.query[e] : edges.key[e];
      if (index !== active.index) continue;
      const other = active.side === "left" ? view.rightByIndex.get(edges.key[e])
        : view.leftByIndex.get(edges.query[e]);
      if (other) {
        other.style.background = `rgba(${EDGE_COLOUR}, ${0.15 + 0.6 * edges.weight[e]})`;
        view.highlighted.push(other);
      }
    }
    buckets[Math.round(edges.weight[e] * 20)].push(e);
    drawn += 1;
  }
  context.lineWidth = 1.2;
  buckets.forEach((bucket, level) => {
    if (!bucket.length || level === 0) return;
    context.strokeStyle = `rgba(${EDGE_COLOUR}, ${level / 20})`;
    context.beginPath();
    for (const e of bucket) {
      const y1 = (view.row.get(edges.query[e]) + 0.5) * ROW;
      const y2 = (view.row.get(edges.key[e]) + 0.5) * ROW;
      context.moveTo(0, y1);
      context.lineTo(width, y2);
    }
    context.stroke();
  });
  for (const [state, className] of [[view.frozen, "ag-frozen"], [view.focus, "ag-focus"]]) {
    if (!state) continue;
    const element = (state.side === "left" ? view.leftByIndex : view.rightByIndex).get(state.index);
    if (element) {
      element.classList.add(className);
      view.highlighted.push(element);
    }
  }
  view.root.dataset.edgesDrawn = String(drawn);
  view.root.dataset.focus = view.focus ? `${view.focus.side}:${view.focus.index}` : "";
  view.root.dataset.frozen = view.frozen ? `${view.frozen.side}:${view.frozen.index}` : "";
}

function describe(view) {
  const { data } = view;
  const heads = data.heads.length === data.num_heads ? "all heads"
    : data.heads.length ? `heads ${data.heads.map((h) => h + 1).join(", ")}` : "no heads";
  let text = `Layer ${data.layer + 1}, ${heads} (${data.combine}); ${data.edge_count} edges ` +
    `keep ${Math.round(data.threshold * 100)}% of each token's attention`;
  if (data.capped_tokens) {
    text += ` (at most ${data.max_edges_per_token} edges per token: ${data.capped_tokens} ` +
      "tokens capped)";
  }
  text += ". Hover a token to see its attention, click to freeze, double-click to mask.";
  view.info.textContent = text;
}

export default function (component) {
  const { data, parentElement } = component;
  const root = parentElement.querySelector(".ag-root");
  if (!root || !data) return undefined;
  const view = root.__attentionGraph || setup(root);
  view.api = component;
  view.data = data;
  view.edges = decodeEdges(data.edges);
  const side = data.selected_side === "right" ? "right" : "left";
  view.frozen = data.selected === null || data.selected === undefined ? null
    : { side, index: data.selected };
  view.focus = null;
  buildTokens(view);
  buildHeads(view);
  describe(view);
  draw(view);
  return undefined;
}
