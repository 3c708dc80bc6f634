// Monitoring: per app, each metric's mean per time bucket with its 95% interval as a band, the gate pass rate,
// a window and a metadata slice to choose, and the latest failing answers with their unbacked claims marked.
// The charts are SVG drawn here (GET /v1/monitor/series); no charting library.
const CHART = {width: 560, height: 150, left: 34, right: 8, top: 10, bottom: 22};
const SERIES_LABELS = {faithfulness: "faithfulness", answer_relevancy: "answer relevancy",
                       context_precision: "context precision", context_recall: "context recall",
                       gate_pass_rate: "gate pass rate"};

async function monitorApps() {
  const response = await api("/v1/monitor/apps");
  if (!response.ok) return;
  const {apps} = await response.json();
  const pick = document.getElementById("mon-app");
  const wanted = pick.value;
  pick.innerHTML = apps.map(a => `<option value="${esc(a.app)}">${esc(a.app)} (${a.records} records)</option>`).join("");
  if (wanted && apps.some(a => a.app === wanted)) pick.value = wanted;
  document.getElementById("mon-empty").hidden = apps.length > 0;
  if (apps.length) await monitorLoad();
}

function monitorQuery() {
  const query = new URLSearchParams();
  const windowS = Number(document.getElementById("mon-window").value);
  const end = new Date();
  query.set("app", document.getElementById("mon-app").value);
  query.set("from", new Date(end.getTime() - windowS * 1000).toISOString());
  query.set("to", end.toISOString());
  for (const condition of document.getElementById("mon-where").value.split(";").map(s => s.trim()).filter(Boolean))
    query.append("where", condition.replace("=", ":"));
  return query;
}

async function monitorLoad() {
  const query = monitorQuery();
  const notes = document.getElementById("mon-notes");
  const response = await api(`/v1/monitor/series?${query}`);
  const body = await response.json();
  const charts = document.getElementById("mon-charts");
  if (!response.ok) {
    notes.innerHTML = `<span class="fail">${esc(errorText(body.detail))}</span>`;
    charts.innerHTML = "";
    return;
  }
  notes.textContent = [`buckets of ${bucketLabel(body.bucket_s)}`, ...body.notes].join(" · ");
  const start = Date.parse(body.start), end = Date.parse(body.end);
  charts.innerHTML = body.series.map(s => `<figure class="mon-figure" data-metric="${esc(s.metric)}">
    <figcaption>${esc(SERIES_LABELS[s.metric] || s.metric)} <small>(${s.count} values)</small></figcaption>
    ${chartSvg(s, start, end, body.bucket_s)}</figure>`).join("");
  await monitorFailures(query.get("app"));
}

const bucketLabel = s => s % 86400 === 0 ? `${s / 86400} d` : s % 3600 === 0 ? `${s / 3600} h` : `${s / 60} min`;

// One series: the interval band (a polygon per run of buckets that have one), the mean's line, a dot per bucket.
function chartSvg(series, start, end, bucketS) {
  const {width, height, left, right, top, bottom} = CHART;
  const x = t => left + (width - left - right) * (t - start) / Math.max(1, end - start);
  const y = v => top + (height - top - bottom) * (1 - v);
  const points = series.buckets.map(b => ({...b, t: Math.min(end, Math.max(start,
    Date.parse(b.start) + bucketS * 500))})).filter(b => b.count > 0);
  const runs = [];
  let run = [];
  for (const p of points) {
    if (run.length && p.t - run.at(-1).t > bucketS * 1000 * 1.5) { runs.push(run); run = []; }
    run.push(p);
  }
  if (run.length) runs.push(run);
  // A lone bucket's band would have no width: it gets a bar as wide as a bucket, at least twice a dot.
  const half = Math.max(5, (x(start + bucketS * 1000) - x(start)) / 2);
  const band = runs.map(r => r.filter(p => p.ci95)).filter(r => r.length).map(r => {
    const edges = r.length > 1 ? r : [{...r[0], dx: -half}, {...r[0], dx: half}];
    const upper = edges.map(p => `${(x(p.t) + (p.dx || 0)).toFixed(1)},${y(p.ci95[1]).toFixed(1)}`);
    const lower = edges.slice().reverse().map(p => `${(x(p.t) + (p.dx || 0)).toFixed(1)},${y(p.ci95[0]).toFixed(1)}`);
    return `<path class="band" d="M${[...upper, ...lower].join("L")}Z"/>`;
  }).join("");
  const line = runs.map(r => `<path class="mean" d="M${r.map(p => `${x(p.t).toFixed(1)},${y(p.mean).toFixed(1)}`)
    .join("L")}"/>`).join("");
  const dots = points.map(p => `<circle cx="${x(p.t).toFixed(1)}" cy="${y(p.mean).toFixed(1)}" r="2.5">
    <title>${esc(new Date(Date.parse(p.start)).toLocaleString())}: mean ${num(p.mean)}` +
    `${p.ci95 ? `, 95% interval ${num(p.ci95[0])}-${num(p.ci95[1])}` : ""}, n=${p.count}` +
    `${p.p10 !== null ? `, p10 ${num(p.p10)}` : ""}</title></circle>`).join("");
  const grid = [0, 0.5, 1].map(v => `<line class="grid" x1="${left}" x2="${width - right}" y1="${y(v)}" y2="${y(v)}"/>
    <text x="${left - 4}" y="${y(v) + 4}" text-anchor="end">${v}</text>`).join("");
  const when = t => new Date(t).toLocaleString([], {month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"});
  const axis = `<text x="${left}" y="${height - 6}">${esc(when(start))}</text>
    <text x="${width - right}" y="${height - 6}" text-anchor="end">${esc(when(end))}</text>`;
  const empty = points.length ? "" : `<text x="${width / 2}" y="${height / 2}" text-anchor="middle">no values</text>`;
  return `<svg class="mon-chart" viewBox="0 0 ${width} ${height}" role="img"
    aria-label="${esc(SERIES_LABELS[series.metric] || series.metric)} over time">${grid}${band}${line}${dots}${axis}${empty}</svg>`;
}

async function monitorFailures(app) {
  const out = document.getElementById("mon-failures");
  const response = await api(`/v1/monitor/failures?app=${encodeURIComponent(app)}&limit=10`);
  const body = await response.json();
  if (!response.ok) { out.innerHTML = `<p class="fail">${esc(errorText(body.detail))}</p>`; return; }
  out.innerHTML = body.failures.length ? body.failures.map(f => `<article class="mon-failure">
    <p><b>${esc(new Date(Date.parse(f.ts)).toLocaleString())}</b> · ${esc(f.failed_rules.join("; "))}</p>
    <p class="mon-question">${esc(f.question)}</p>
    <p class="mon-answer">${highlight(f.answer, f.claims)}</p>
    ${f.claims.filter(c => c.evidence).map(c => `<p class="legend">${esc(c.verdict)}: “${esc(c.claim)}”; the
      context says <q class="evidence">${esc(c.evidence)}</q></p>`).join("")}</article>`).join("") + LEGEND
    : "<p>No failing answer in this app.</p>";
}

document.getElementById("mon-form").addEventListener("submit", event => { event.preventDefault(); monitorLoad(); });
document.getElementById("mon-app").addEventListener("change", monitorLoad);
document.getElementById("mon-window").addEventListener("change", monitorLoad);
monitorApps();
