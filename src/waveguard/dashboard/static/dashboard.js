// waveguard dashboard: one section per rollout, redrawn from the server-sent view of its state
// file (the JSON of waveguard.rollout.view.build_view). Text is set with textContent only.
"use strict";

const STATES = ["pending", "applying", "baking", "passed", "halted", "rolling_back", "rollback_pending",
                "rolled_back"];

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

function dur(s) {
  const w = Math.max(0, Math.round(s)), h = Math.floor(w / 3600), m = Math.floor((w % 3600) / 60), x = w % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return (h ? h + ":" : "") + mm + ":" + String(x).padStart(2, "0");
}

function fig(v, unit) {
  if (v === null || v === undefined) return "no data";
  const g = (x) => Number(x.toPrecision(3)).toString();
  if (unit === "ratio") return g(v * 100) + "%";
  if (unit === "seconds") return g(v) + " s";
  if (unit === "requests/s") return g(v) + " req/s";
  return (g(v) + " " + (unit || "")).trim();
}

class RolloutPanel {
  constructor(root, index, name) {
    this.section = el("section", "rollout");
    this.section.id = "rollout-" + index;
    this.section.dataset.name = name;
    root.appendChild(this.section);
    this.charts = {};
  }

  render(doc) {
    const s = this.section;
    s.dataset.seq = doc.seq;
    s.dataset.status = doc.status;
    s.replaceChildren(this.head(doc), el("h3", null, "waves"), this.timeline(doc));
    if (doc.bake) s.appendChild(el("div", "bake", "bake " + dur(doc.bake.elapsed) + " of " + dur(doc.bake.bake_s)
                                                 + " · " + dur(doc.bake.remaining) + " left"));
    if (doc.halt) s.appendChild(this.halt(doc));
    if (doc.pause_reason) s.appendChild(el("div", "halt paused", "paused: " + doc.pause_reason));
    if (doc.clusters.length) {
      s.appendChild(el("h3", null, "clusters of wave " + doc.wave + " (" + doc.waves[doc.wave].name + ")"));
      s.appendChild(this.grid(doc.clusters));
      s.appendChild(this.legend());
    }
    s.appendChild(el("h3", null, "gates (worst cluster per evaluation; dashed: threshold; gaps: no data)"));
    s.appendChild(this.gates(doc));
    s.appendChild(el("h3", null, "last events"));
    s.appendChild(this.events(doc.events));
  }

  head(doc) {
    const h = el("div", "head");
    h.append(el("h2", null, doc.name), el("span", "badge " + doc.status, doc.status.replace("_", " ")),
             el("span", "muted", "t=" + dur(doc.t) + (doc.wave === null ? " · no wave started"
                : " · wave " + doc.wave + " " + doc.waves[doc.wave].name + " of " + doc.waves.length)));
    return h;
  }

  timeline(doc) {
    const t = el("div", "timeline");
    for (const w of doc.waves) {
      const d = el("div", "wave " + w.where);
      d.style.flex = w.bake_s + " 1 0";  // widths in proportion to the bake times
      d.dataset.index = w.index;
      if (w.where === "current" && doc.bake) {
        const fill = el("div", "fill");
        fill.style.width = Math.min(100, 100 * doc.bake.elapsed / doc.bake.bake_s) + "%";
        d.appendChild(fill);
      }
      d.appendChild(el("div", "label", ({current: "▶ ", done: "✓ ", halted: "✗ "}[w.where] || "")
                       + w.index + " " + w.name + " · " + w.clusters + " clusters · "
                       + Math.round(w.node_share * 100) + "% of nodes · " + dur(w.bake_s)));
      d.title = w.name + ": " + w.where;
      t.appendChild(d);
    }
    return t;
  }

  halt(doc) {
    const h = el("div", "halt");
    h.appendChild(el("div", "reason", "halted: " + doc.halt.reason));
    if (doc.halt_figure) h.appendChild(el("div", "figure", doc.halt_figure));
    for (const f of doc.halt.failed || []) {
      h.appendChild(el("div", "failed", f.cluster + ": " + f.detail));
    }
    return h;
  }

  grid(clusters) {
    const g = el("div", "grid");
    for (const c of clusters) {
      const d = el("div", "cell " + c.state);
      d.style.background = "var(--" + c.state + ")";
      d.append(el("span", "n", c.name), el("span", null, c.state.replace("_", " ") + " · "
               + Math.round(c.share * 1000) / 10 + "% of " + Math.round(c.target * 1000) / 10 + "%"));
      d.title = c.name + " (" + c.nodes + " nodes): " + c.state;
      g.appendChild(d);
    }
    return g;
  }

  legend() {
    const l = el("div", "legend");
    for (const s of STATES) {
      const item = el("span");
      const i = el("i");
      i.style.background = "var(--" + s + ")";
      item.append(i, s.replace("_", " "));
      l.appendChild(item);
    }
    return l;
  }

  gates(doc) {
    const box = el("div", "gates");
    for (const g of doc.gates) {
      const card = el("div", "gate");
      card.dataset.gate = g.gate;
      const title = el("div", "title");
      title.append(el("b", null, g.gate), el("span", null, fig(g.value, g.unit) + " against "
                   + fig(g.threshold, g.unit) + " on " + g.cluster),
                   el("span", "status-" + g.status, g.status));
      const plot = el("div", "plot");
      card.append(title, plot);
      box.appendChild(card);
      const series = doc.series[g.gate] || [];
      if (series.length) this.chart(plot, g, series);
      else plot.appendChild(el("div", "muted", "read before each wave's apply (a projection): no time series; "
                                + g.passed + " passed, " + g.failed + " failed, " + g.no_data + " no data"));
    }
    return box;
  }

  chart(plot, gate, series) {
    const scale = gate.unit === "ratio" ? 100 : 1;
    const xs = series.map((p) => p[0]);
    const ys = series.map((p) => (p[1] === null ? null : p[1] * scale));
    const th = series.map((p) => p[2] * scale);
    const unit = gate.unit === "ratio" ? "%" : gate.unit === "requests/s" ? "req/s" : gate.unit === "seconds" ? "s" : gate.unit;
    const opts = {
      width: 400, height: 160, legend: { show: false },
      scales: { x: { time: false } },
      axes: [{ label: "rollout time", values: (u, v) => v.map(dur) }, { label: unit, size: 50 }],
      series: [{}, { label: gate.gate, stroke: "#0969da", width: 2, spanGaps: false, points: { size: 4 } },
               { label: "threshold", stroke: "#cf222e", dash: [6, 4], width: 1.5, points: { show: false } }],
    };
    requestAnimationFrame(() => {
      opts.width = Math.max(300, plot.clientWidth || 400);
      new uPlot(opts, [xs, ys, th], plot);
    });
  }

  events(events) {
    const t = el("table", "events");
    for (const e of events) {
      const r = el("tr");
      r.append(el("td", null, dur(e.t)), el("td", null, e.kind.replace("_", " ")), el("td", null, e.cluster || ""),
               el("td", null, e.text));
      t.appendChild(r);
    }
    return t;
  }
}

async function main() {
  const root = document.getElementById("rollouts");
  const list = await (await fetch("api/rollouts")).json();
  document.getElementById("loading").remove();
  let pending = list.length;
  for (const r of list) {
    const panel = new RolloutPanel(root, r.index, r.name);
    const source = new EventSource("api/rollouts/" + r.index + "/events");
    let first = true;
    source.addEventListener("unreadable", (m) => {  // the state file was damaged while served
      source.close();
      panel.section.appendChild(el("p", "error", JSON.parse(m.data).error));
    });
    source.onmessage = (m) => {
      panel.render(JSON.parse(m.data));
      if (first) {
        first = false;
        if (--pending === 0) {
          performance.mark("waveguard-first-render");
          document.body.dataset.rendered = "yes";
        }
      }
    };
  }
}

main();
