// The row browser: a batch's rows filtered by gate verdict, a score range and metadata, a page at a time
// (GET /v1/batches/{id}/rows); opening one shows it whole with its claims (GET /v1/batches/{id}/rows/{row}).
const PAGE_ROWS = 25;
const ICONS = {supported: "\u2713", unsupported: "?", contradicted: "\u2717"};
let browsing = {batch: null, offset: 0, query: ""};

function browserBatches(options) {
  const pick = document.getElementById("rows-batch");
  const wanted = browsing.batch || new URLSearchParams(location.search).get("batch");
  pick.innerHTML = options.join("");
  if (wanted && [...pick.options].some(o => o.value === wanted)) pick.value = wanted;
  if (pick.value && pick.value !== browsing.batch) browseBatch(pick.value);
}

function browseBatch(id) {
  document.getElementById("rows-batch").value = id;
  browsing = {batch: id, offset: 0, query: filterQuery()};
  loadRows();
}

function filterQuery() {
  const query = new URLSearchParams();
  const value = id => document.getElementById(id).value.trim();
  if (value("rows-gate")) query.set("gate", value("rows-gate"));
  if (value("rows-metric") && value("rows-value") !== "")
    query.append("score", `${value("rows-metric")}${value("rows-op")}${value("rows-value")}`);
  for (const condition of value("rows-meta").split(";").map(s => s.trim()).filter(Boolean))
    query.append("metadata", condition);
  if (value("rows-sort")) query.set("sort", value("rows-sort"));
  return query.toString();
}

async function loadRows() {
  const count = document.getElementById("rows-count");
  const query = `${browsing.query}${browsing.query ? "&" : ""}offset=${browsing.offset}&limit=${PAGE_ROWS}`;
  const response = await api(`/v1/batches/${encodeURIComponent(browsing.batch)}/rows?${query}`);
  const body = await response.json();
  const table = document.getElementById("rows");
  if (!response.ok) {
    count.innerHTML = `<span class="fail">${esc(errorText(body.detail))}</span>`;
    table.innerHTML = "";
    return;
  }
  const last = body.offset + body.rows.length;
  count.textContent = body.total ? `rows ${body.offset + 1}-${last} of ${body.total} matching`
                                 : "no row matches these filters";
  document.getElementById("rows-prev").disabled = body.offset === 0;
  document.getElementById("rows-next").disabled = body.next_offset === null;
  table.innerHTML = "<tr><th>row</th><th>id</th><th>question</th><th>answer</th><th>faithfulness</th>" +
    "<th>gate</th><th>metadata</th></tr>" + body.rows.map(r => `<tr class="row" data-row="${r.row}">
      <td><button type="button" class="open-row" data-row="${r.row}">${r.row}</button></td><td>${esc(r.id)}</td>
      <td>${esc(r.user_input)}</td><td>${esc(r.response)}</td><td>${num(r.scores.faithfulness)}</td>
      <td>${gateCell(r.gate_passed, r.status)}</td>
      <td>${Object.entries(r.metadata).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(", ")}</td></tr>`).join("");
}

const gateCell = (passed, status) => passed === null ? esc(status)
  : `<span class="${passed ? "pass" : "fail"}">${passed ? "pass" : "FAIL"}</span>`;
const errorText = detail => Array.isArray(detail) ? detail.map(e => `${e.loc.at(-1)}: ${e.msg}`).join("; ")
                                                  : typeof detail === "string" ? detail : JSON.stringify(detail);

async function openRow(row) {
  const out = document.getElementById("row-detail");
  const response = await api(`/v1/batches/${encodeURIComponent(browsing.batch)}/rows/${row}`);
  const body = await response.json();
  if (!response.ok) { out.innerHTML = `<p class="fail">${esc(errorText(body.detail))}</p>`; return; }
  const {sample, result} = body;
  const scores = result ? Object.entries(result.scores).filter(([, v]) => v !== null)
    .map(([m, v]) => `<tr><td>${m}</td><td data-metric="${m}">${num(v)}</td></tr>`).join("") : "";
  const claims = result?.details?.faithfulness?.claims || [];
  const claimRows = claims.map(c => `<tr class="claim" data-verdict="${esc(c.verdict)}"><td>${esc(c.claim)}</td>
      <td><span class="verdict ${esc(c.verdict)}">${ICONS[c.verdict] || ""} ${esc(c.verdict)}</span></td>
      <td>${c.evidence ? `<q class="evidence">${esc(c.evidence)}</q>` : ""}
        ${c.context_index !== null && c.context_index !== undefined ? `<small>context ${c.context_index + 1}</small>` : ""}</td>
      <td>${esc(c.reason)}</td></tr>`).join("");
  out.innerHTML = `<h3 id="row-title">Row ${body.row}${sample.id !== null ? ` (id ${esc(sample.id)})` : ""}</h3>
    <p>${result ? `Gate: ${gateCell(result.gate.passed, body.status)} (hallucination
      ${num(result.gate.hallucination_score)}, threshold ${result.gate.threshold})` : `Status: ${esc(body.status)}`}
      ${body.error ? `<span class="fail">${esc(body.error)}</span>` : ""}</p>
    ${scores ? `<table class="row-scores">${scores}</table>` : ""}
    <h4>Question</h4><p id="row-question">${esc(sample.user_input)}</p>
    <h4>Answer</h4><p id="row-answer"></p>${LEGEND}
    <h4>Contexts</h4><ol id="row-contexts">${sample.retrieved_contexts.map(c => `<li>${esc(c)}</li>`).join("")}</ol>
    ${sample.reference ? `<h4>Reference</h4><p>${esc(sample.reference)}</p>` : ""}
    <h4>Claims</h4>${claims.length ? `<div class="table-scroll"><table id="row-claims"><tr><th>claim</th>
      <th>verdict</th><th>evidence</th><th>why</th></tr>${claimRows}</table></div>` : "<p>No claims judged.</p>"}`;
  markClaims(document.getElementById("row-answer"), sample.response, unbacked(result));
  out.scrollIntoView({block: "nearest"});
}

document.getElementById("row-filters").addEventListener("submit", event => {
  event.preventDefault();
  browseBatch(document.getElementById("rows-batch").value);
});
document.getElementById("rows-prev").addEventListener("click", () => {
  browsing.offset = Math.max(0, browsing.offset - PAGE_ROWS);
  loadRows();
});
document.getElementById("rows-next").addEventListener("click", () => {
  browsing.offset += PAGE_ROWS;
  loadRows();
});
document.getElementById("rows").addEventListener("click", event => {
  const row = event.target.closest("tr.row");
  if (row) openRow(row.dataset.row);
});
document.getElementById("rows-metric").innerHTML = '<option value="">any score</option>' +
  METRICS.map(m => `<option>${m}</option>`).join("");
document.getElementById("rows-sort").innerHTML = '<option value="">input order</option>' +
  METRICS.map(m => `<option value="${m}">${m}, lowest first</option><option value="-${m}">${m}, highest first</option>`).join("");
