"use strict";
// The explorer page: level switch, pan and zoom, the backward replay, node details,
// the linked plot of ||dL/dh_t||, per-step gradient terms of a weight, search.
// Everything it needs is in the page (#explorer-data); it makes no request.
(function () {
  const data = JSON.parse(document.getElementById("explorer-data").textContent);
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);
  const views = {};
  document.querySelectorAll(".view").forEach((view) => { views[view.dataset.level] = view; });
  const lastFrame = data.frames.length - 1;
  const state = { level: data.start_level, frame: lastFrame, timer: null, chosen: null, query: "" };
  const boxes = {};   // level -> {x, y, w, h, full}: the visible part of its drawing

  // --- numbers -------------------------------------------------------------------------
  function num(value) { return value === null || value === undefined ? null : Number(value); }
  function fmt(value) {
    if (value === null || value === undefined) return "–";
    if (Number.isNaN(value)) return "nan";
    if (!Number.isFinite(value)) return value > 0 ? "inf" : "-inf";
    if (value === 0) return "0";
    const exponent = Math.floor(Math.log10(Math.abs(value)));
    if (exponent >= -2 && exponent <= 2) return String(Number(value.toPrecision(3)));
    return value.toExponential(1).replace("e+", "e");
  }
  function el(tag, attrs, ...children) {
    const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }
  const level = () => data.levels[state.level];
  const element = (id) => document.getElementById(id);

  // --- pan and zoom --------------------------------------------------------------------
  function svgOf(name) { return views[name].querySelector("svg"); }
  function container() { const rect = $("graph").getBoundingClientRect(); return { w: rect.width, h: rect.height }; }
  function setBox(name, box) {
    boxes[name] = box;
    svgOf(name).setAttribute("viewBox", `${box.x} ${box.y} ${box.w} ${box.h}`);
  }
  function initialBox(name, whole) {
    const svg = svgOf(name);
    if (!svg.dataset.whole) svg.dataset.whole = svg.getAttribute("viewBox");   // Graphviz's: the whole drawing
    const [x, y, w, h] = svg.dataset.whole.split(/[ ,]+/).map(Number);
    const size = container();
    const fit = Math.min(size.w / w, size.h / h);
    const full = { x, y, w, h };
    if (whole || fit >= 0.55) {  // fits legibly: show all of it, centred
      const scale = fit;
      const vw = size.w / scale, vh = size.h / scale;
      return { x: x - (vw - w) / 2, y: y - (vh - h) / 2, w: vw, h: vh, full };
    }
    // Too wide to read whole: show the loss end (where backward starts) at a readable size,
    // centred on the row of the last time step.
    const scale = Math.max(fit, 0.9);
    const vw = size.w / scale, vh = size.h / scale;
    let centre = y + h / 2;
    const rect = svg.getBoundingClientRect(), shown = Math.min(rect.width / w, rect.height / h);
    let rightmost = null;
    for (const ids of Object.values(data.levels[name].steps)) {
      for (const id of ids) {
        const box = element(id) && element(id).getBoundingClientRect();
        if (box && box.width > 0 && (!rightmost || box.right > rightmost.right)) rightmost = box;
      }
    }
    if (rightmost && shown > 0) {
      centre = y + (rightmost.top + rightmost.height / 2 - rect.top - (rect.height - h * shown) / 2) / shown;
    }
    return { x: x + w - vw, y: centre - vh / 2, w: vw, h: vh, full };
  }
  function zoom(factor, px, py) {
    const box = boxes[state.level], size = container();
    const ux = box.x + (px / size.w) * box.w, uy = box.y + (py / size.h) * box.h;
    const w = box.w * factor, h = box.h * factor;
    setBox(state.level, { x: ux - (px / size.w) * w, y: uy - (py / size.h) * h, w, h, full: box.full });
  }
  const graphArea = $("graph");
  graphArea.addEventListener("wheel", (event) => {
    event.preventDefault();
    const rect = graphArea.getBoundingClientRect();
    zoom(event.deltaY > 0 ? 1.15 : 1 / 1.15, event.clientX - rect.left, event.clientY - rect.top);
  }, { passive: false });
  let drag = null;
  graphArea.addEventListener("mousedown", (event) => {
    if (event.button !== 0) return;
    drag = { x: event.clientX, y: event.clientY, box: Object.assign({}, boxes[state.level]), moved: false };
  });
  window.addEventListener("mousemove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.x, dy = event.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; graphArea.classList.add("dragging"); }
    if (!drag.moved) return;
    const size = container(), box = drag.box;
    setBox(state.level, { x: box.x - dx * box.w / size.w, y: box.y - dy * box.h / size.h, w: box.w, h: box.h,
                          full: box.full });
  });
  window.addEventListener("mouseup", () => {
    if (drag && drag.moved) { graphArea.dataset.justDragged = "1"; setTimeout(() => { delete graphArea.dataset.justDragged; }, 0); }
    drag = null;
    graphArea.classList.remove("dragging");
  });
  $("fit").addEventListener("click", () => setBox(state.level, initialBox(state.level, true)));

  // --- the backward replay ----------------------------------------------------------------
  const slider = $("slider");
  slider.max = String(lastFrame);
  function applyFrame() {
    const frame = state.frame, current = level();
    for (const [id, unit] of Object.entries(current.units)) {
      const node = element(id);
      if (!node) continue;
      node.classList.toggle("pending", unit.reach > frame);
      node.classList.toggle("frontier", frame > 0 && frame < lastFrame && unit.reach === frame);
    }
    for (const [id, cluster] of Object.entries(current.clusters)) {
      const box = element(id);
      if (!box) continue;
      box.classList.toggle("lit", frame > 0 && cluster.reach <= frame);
      box.classList.toggle("frontier", frame > 0 && frame < lastFrame && cluster.step_key !== undefined &&
                           cluster.reach === frame);
    }
    for (const [id, reach] of Object.entries(current.edges)) {
      const edge = element(id);
      if (edge) edge.classList.toggle("pending", reach > frame);
    }
    document.querySelectorAll("#plot .point").forEach((point) => {
      point.classList.toggle("pending", stepReach(point.dataset.key) > frame);
    });
    slider.value = String(frame);
    $("frame-count").textContent = `${frame} / ${lastFrame}`;
    $("caption").textContent = data.frames[frame];
  }
  function stepReach(key) {
    const current = level();
    let reach = Infinity;
    for (const id of current.steps[key] || []) {
      const item = current.units[id] || current.clusters[id];
      if (item) reach = Math.min(reach, item.reach);
    }
    return reach;
  }
  function showFrame(frame) { state.frame = Math.max(0, Math.min(lastFrame, frame)); applyFrame(); }
  slider.addEventListener("input", () => showFrame(Number(slider.value)));
  function stop() { clearInterval(state.timer); state.timer = null; $("play").textContent = "▶ play"; }
  $("play").addEventListener("click", () => {
    if (state.timer) { stop(); return; }
    if (state.frame >= lastFrame) showFrame(0);
    $("play").textContent = "❚❚ pause";
    state.timer = setInterval(() => {
      if (state.frame >= lastFrame) { stop(); return; }
      showFrame(state.frame + 1);
    }, 700);
  });
  document.addEventListener("keydown", (event) => {
    if (event.target === $("search")) return;
    if (event.key === "ArrowRight") showFrame(state.frame + 1);
    if (event.key === "ArrowLeft") showFrame(state.frame - 1);
  });

  // --- node details ----------------------------------------------------------------------
  function numberCell(field, value) {
    const parsed = num(value);
    return el("td", { class: "num", "data-field": field, "data-value": parsed === null ? "" : String(value) }, fmt(parsed));
  }
  function histogram(stats) {
    if (!stats || !stats.hist) return null;
    const width = 220, height = 40, counts = stats.hist, most = Math.max(...counts, 1);
    const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height + 12}`, width, height: height + 12,
                                class: "histogram", "aria-label": "histogram of the values" });
    const step = width / counts.length;
    counts.forEach((count, i) => {
      const h = count / most * height;
      svg.append(el("svg:rect", { x: i * step + 0.5, y: height - h, width: step - 1, height: h, fill: "#8ea9cc",
                                  "data-count": count }));
    });
    svg.append(el("svg:text", { x: 0, y: height + 11, class: "axis-label" }, fmt(num(stats.hist_range[0]))));
    svg.append(el("svg:text", { x: width, y: height + 11, class: "axis-label", "text-anchor": "end" },
                  fmt(num(stats.hist_range[1]))));
    return svg;
  }
  function describe(id) {
    const unit = level().units[id];
    const rows = [];
    const row = (label, cell) => rows.push(el("tr", {}, el("td", {}, label), cell));
    const text = (field, value) => el("td", { "data-field": field }, value);
    if (unit.op) row("op", text("op", unit.op + (unit.ops ? ` (${unit.ops} ops)` : "")));
    if (unit.role) row("state", text("role", unit.role));
    const scope = unit.scope || {};
    for (const key of ["layer", "direction", "step"]) if (scope[key] !== undefined) row(key, text(key, scope[key]));
    row("in", text("where", scope.where));
    if (unit.of && unit.kind === "group") row("shown", text("of", `its state ${unit.of}`));
    if (unit.shape) row("shape", text("shape", `(${unit.shape.join(", ")}${unit.shape.length === 1 ? "," : ""})`));
    const stats = unit.stats;
    if (stats && stats.min !== undefined) {
      row("min", numberCell("min", stats.min));
      row("mean", numberCell("mean", stats.mean));
      row("max", numberCell("max", stats.max));
      if (stats.nonfinite) row("not finite", text("nonfinite", String(stats.nonfinite)));
    } else if (unit.kind !== "elided" && unit.kind !== "group") {
      row("values", text("stats", "not kept by the graph"));
    }
    if (unit.grad !== undefined) row("‖∂L/∂·‖", numberCell("grad", unit.grad));
    if (unit.grad_range) row("‖∂L/∂h‖", text("grad_range", `${fmt(num(unit.grad_range[0]))} … ${fmt(num(unit.grad_range[1]))}`));
    if (unit.uses) row("uses", text("uses", String(unit.uses)));
    const box = el("div", { class: "facts", "data-node": id },
                   el("h2", {}, unit.title), el("table", { class: "facts" }, ...rows), histogram(stats));
    if (unit.param) box.append(el("p", { class: "hint" }, "click for each time step's share of its gradient"));
    return box;
  }
  const tip = $("tip");
  function nodeId(target) {
    const node = target.closest && target.closest(".node");
    return node && level().units[node.id] ? node.id : null;
  }
  function stepKeyOf(id) {
    const item = level().units[id] || level().clusters[id];
    return item ? item.step_key : undefined;
  }
  Object.values(views).forEach((view) => {
    view.addEventListener("mouseover", (event) => {
      const id = nodeId(event.target);
      const cluster = !id && event.target.closest && event.target.closest(".cluster");
      if (id) {
        tip.replaceChildren(describe(id));
        tip.hidden = false;
        placeTip(event);
        highlightStep(stepKeyOf(id));
      } else if (cluster && level().clusters[cluster.id]) {
        highlightStep(level().clusters[cluster.id].step_key);
      }
    });
    view.addEventListener("mousemove", (event) => { if (!tip.hidden) placeTip(event); });
    view.addEventListener("mouseout", (event) => {
      if (nodeId(event.target) || (event.target.closest && event.target.closest(".cluster"))) {
        tip.hidden = true;
        highlightStep(undefined);
      }
    });
    view.addEventListener("click", (event) => {
      if (graphArea.dataset.justDragged) return;
      const id = nodeId(event.target);
      if (id) choose(id);
    });
  });
  function placeTip(event) {
    const margin = 14, rect = tip.getBoundingClientRect();
    let x = event.clientX + margin, y = event.clientY + margin;
    if (x + rect.width > window.innerWidth) x = event.clientX - rect.width - margin;
    if (y + rect.height > window.innerHeight) y = Math.max(0, window.innerHeight - rect.height - 4);
    tip.style.left = `${x}px`;
    tip.style.top = `${y}px`;
  }
  function choose(id) {
    document.querySelectorAll(".node.chosen").forEach((node) => node.classList.remove("chosen"));
    const unit = level().units[id];
    element(id).classList.add("chosen");
    state.chosen = unit.param || null;
    $("details").replaceChildren(describe(id));
    if (unit.param) drawBars(unit.param);
  }

  // --- each step's share of a weight's gradient ----------------------------------------------
  function drawBars(key) {
    const info = data.contributions[key];
    const box = $("bars");
    const norms = info.norms.map(num);
    const entries = info.steps.map((step, i) => ({ step, value: norms[i], raw: info.norms[i] }));
    if (info.outside !== null) entries.push({ step: "outside", value: num(info.outside), raw: info.outside });
    const heading = el("h2", {}, `Each step's share of ∂L/∂${info.name}`);
    const note = el("p", { class: "hint" },
      `Bars: ‖term_t‖, the part of the gradient added at step t (the terms sum to .grad: largest difference `,
      el("span", { "data-field": "mismatch", "data-value": String(info.mismatch) }, fmt(num(info.mismatch))),
      `; ‖.grad‖ = ${fmt(num(info.grad))}).`);
    if (!entries.length) { box.replaceChildren(heading, el("p", {}, "no gradient reached it")); return; }
    const width = 316, height = 150, left = 40, bottom = 18;
    const most = Math.max(...entries.map((entry) => (Number.isFinite(entry.value) ? entry.value : 0)), 1e-300);
    const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height}`, class: "bars", "data-param": info.name });
    const plotWidth = width - left - 4, plotHeight = height - bottom - 6, slot = plotWidth / entries.length;
    svg.append(el("svg:line", { x1: left, y1: 6, x2: left, y2: 6 + plotHeight, class: "axis" }));
    svg.append(el("svg:line", { x1: left, y1: 6 + plotHeight, x2: width - 4, y2: 6 + plotHeight, class: "axis" }));
    svg.append(el("svg:text", { x: left - 3, y: 14, class: "axis-label", "text-anchor": "end" }, fmt(most)));
    svg.append(el("svg:text", { x: left - 3, y: 6 + plotHeight, class: "axis-label", "text-anchor": "end" }, "0"));
    const labelEvery = Math.max(1, Math.ceil(entries.length / 12));
    entries.forEach((entry, i) => {
      const value = Number.isFinite(entry.value) ? entry.value : most;
      const h = Math.max(value / most * plotHeight, entry.value > 0 ? 0.6 : 0);
      const rect = el("svg:rect", { x: left + i * slot + slot * 0.1, y: 6 + plotHeight - h, width: Math.max(slot * 0.8, 0.5),
                                    height: h, class: "bar-rect" + (entry.step === "outside" ? " outside" : ""),
                                    "data-step": entry.step, "data-value": String(entry.raw) });
      rect.append(el("svg:title", {}, `step ${entry.step}: ‖term‖ = ${fmt(entry.value)}`));
      svg.append(rect);
      if (i % labelEvery === 0 || entry.step === "outside") {
        svg.append(el("svg:text", { x: left + (i + 0.5) * slot, y: height - 5, class: "axis-label", "text-anchor": "middle" },
                      entry.step === "outside" ? "out" : entry.step));
      }
    });
    box.replaceChildren(heading, svg, note);
  }

  // --- ||dL/dh_t|| against t ---------------------------------------------------------------------
  const COLOURS = ["#1c7ed6", "#e8590c", "#2b8a3e", "#862e9c", "#c92a2a", "#5f3dc4"];
  function drawPlot() {
    const area = $("plot");
    const series = data.plot;
    if (!series.length) { area.replaceChildren(el("p", { class: "hint" }, "no recurrent state in this graph")); return; }
    const width = Math.max(area.getBoundingClientRect().width - 16, 300), height = 178, left = 54, right = 12, top = 20,
          bottom = 26;
    const points = series.flatMap((line) => line.points).filter((point) => num(point.norm) > 0 && Number.isFinite(num(point.norm)));
    const steps = series.flatMap((line) => line.points.map((point) => point.t));
    const tMin = Math.min(...steps), tMax = Math.max(...steps);
    let low = Math.floor(Math.log10(Math.min(...points.map((point) => num(point.norm)), 1)));
    let high = Math.ceil(Math.log10(Math.max(...points.map((point) => num(point.norm)), 1e-300)));
    if (!points.length) { low = -1; high = 1; }
    if (high <= low) high = low + 1;
    const x = (t) => left + (tMax === tMin ? 0.5 : (t - tMin) / (tMax - tMin)) * (width - left - right);
    const y = (norm) => top + (high - Math.log10(norm)) / (high - low) * (height - top - bottom);
    const svg = el("svg:svg", { viewBox: `0 0 ${width} ${height}`, height });
    svg.append(el("svg:text", { x: left, y: 12, class: "axis-label" }, "‖∂L/∂h_t‖ (log scale) against the time step t"));
    const decadeStride = Math.ceil((high - low) / 6);
    for (let decade = low; decade <= high; decade += decadeStride) {
      svg.append(el("svg:line", { x1: left, x2: width - right, y1: y(10 ** decade), y2: y(10 ** decade), class: "grid" }));
      svg.append(el("svg:text", { x: left - 4, y: y(10 ** decade) + 4, class: "axis-label", "text-anchor": "end" }, `1e${decade}`));
    }
    svg.append(el("svg:line", { x1: left, x2: left, y1: top, y2: height - bottom, class: "axis" }));
    svg.append(el("svg:line", { x1: left, x2: width - right, y1: height - bottom, y2: height - bottom, class: "axis" }));
    const tickStride = Math.max(1, Math.ceil((tMax - tMin + 1) / 15));
    for (let t = tMin; t <= tMax; t += tickStride) {
      svg.append(el("svg:text", { x: x(t), y: height - bottom + 13, class: "axis-label", "text-anchor": "middle" }, String(t)));
    }
    svg.append(el("svg:text", { x: width - right, y: height - 2, class: "axis-label", "text-anchor": "end" }, "t"));
    series.forEach((line, number) => {
      const colour = COLOURS[number % COLOURS.length];
      const drawn = line.points.filter((point) => num(point.norm) > 0 && Number.isFinite(num(point.norm)));
      svg.append(el("svg:polyline", { class: "series", stroke: colour,
                                      points: drawn.map((point) => `${x(point.t)},${y(num(point.norm))}`).join(" ") }));
      for (const point of drawn) {
        const circle = el("svg:circle", { cx: x(point.t), cy: y(num(point.norm)), r: 3.5, fill: colour, class: "point",
                                          "data-key": point.key, "data-t": point.t, "data-value": String(point.norm),
                                          "data-series": line.label });
        circle.append(el("svg:title", {}, `${line.label}, t = ${point.t}: ‖∂L/∂h‖ = ${fmt(num(point.norm))}`));
        svg.append(circle);
      }
      svg.append(el("svg:text", { x: left + 8, y: height - bottom - 6 - 12 * (series.length - 1 - number),
                                  class: "axis-label", style: `fill: ${colour}; font-weight: 600` }, line.label));
    });
    svg.addEventListener("mouseover", (event) => {
      if (event.target.classList.contains("point")) highlightStep(event.target.dataset.key);
    });
    svg.addEventListener("mouseout", (event) => {
      if (event.target.classList.contains("point")) highlightStep(undefined);
    });
    area.replaceChildren(svg);
  }
  let highlighted = [];
  function highlightStep(key) {
    highlighted.forEach((node) => node.classList.remove("hl"));
    highlighted = [];
    if (key === undefined || key === null) return;
    for (const id of level().steps[key] || []) {
      const node = element(id);
      if (node) highlighted.push(node);
    }
    document.querySelectorAll("#plot .point").forEach((point) => { if (point.dataset.key === key) highlighted.push(point); });
    highlighted.forEach((node) => node.classList.add("hl"));
  }

  // --- search ---------------------------------------------------------------------------------
  function applySearch() {
    const query = state.query.trim().toLowerCase();
    const view = views[state.level];
    view.classList.toggle("searching", query.length > 0);
    let count = 0;
    for (const [id, unit] of Object.entries(level().units)) {
      const node = element(id);
      const hit = query.length > 0 && unit.search.toLowerCase().includes(query);
      if (node) node.classList.toggle("match", hit);
      if (hit) count += 1;
    }
    $("matches").textContent = query ? `${count} match${count === 1 ? "" : "es"}` : "";
    $("matches").dataset.count = String(count);
  }
  $("search").addEventListener("input", () => { state.query = $("search").value; applySearch(); });

  // --- legend -----------------------------------------------------------------------------------
  function drawLegend() {
    const legend = level().legend;
    const bar = el("div", { class: "bar" }, ...legend.swatches.map((colour) => el("span", { style: `background: ${colour}` })));
    const ticks = el("div", { class: "ticks" }, ...legend.ticks.map(([position, text]) =>
      el("span", { style: `left: ${position * 100}%` }, text)));
    $("legend").replaceChildren(
      el("strong", {}, "‖∂L/∂·‖ of each node, log scale"), bar, ticks,
      el("div", {}, el("span", { class: "extra", style: `background: ${legend.zero}` }), "exactly 0",
         el("span", { class: "extra", style: `background: ${legend.nonfinite}` }), "inf / nan"),
      el("ul", {},
         el("li", {}, "rounded box: op (bold: a whole time step); 3-d box: weight; page: data"),
         el("li", {}, "white: backward has not reached it yet (move the slider)"),
         el("li", {}, "thick edge: hidden state; double edge: cell state"),
         el("li", {}, "scroll to zoom, drag to pan, hover for values")));
  }

  // --- levels --------------------------------------------------------------------------------------
  function showLevel(name) {
    tip.hidden = true;           // what the tooltip and highlights pointed at belongs to the other drawing
    highlightStep(undefined);
    state.level = name;
    for (const [key, view] of Object.entries(views)) view.hidden = key !== name;
    document.querySelectorAll(".levels button").forEach((button) => {
      button.setAttribute("aria-pressed", String(button.dataset.level === name));
    });
    if (!boxes[name]) setBox(name, initialBox(name, false));
    $("note").textContent = data.notes[name] || "";
    applyFrame();
    applySearch();
    drawLegend();
    document.body.dataset.level = name;
  }
  document.querySelectorAll(".levels button").forEach((button) => {
    button.addEventListener("click", () => showLevel(button.dataset.level));
  });

  drawPlot();
  showLevel(state.level);
  const firstWeight = Object.entries(level().units).find(([, unit]) => unit.param && /weight_hh/.test(unit.title)) ||
                      Object.entries(level().units).find(([, unit]) => unit.param);
  if (firstWeight) drawBars(firstWeight[1].param);
  document.body.dataset.ready = "1";
})();
