// The page's first sections: score one answer, upload a file and follow its job, list past batches, compare two.
document.getElementById("single").addEventListener("submit", async event => {
  event.preventDefault();
  const sample = {
    user_input: document.getElementById("question").value,
    retrieved_contexts: document.getElementById("contexts").value.split(/\n\s*\n/).map(s => s.trim()).filter(Boolean),
    response: document.getElementById("answer").value,
  };
  const reference = document.getElementById("reference").value.trim();
  if (reference) sample.reference = reference;
  const out = document.getElementById("result");
  out.textContent = "scoring...";
  const response = await api("/v1/evaluate", {method: "POST", headers: {"content-type": "application/json"},
                                                body: JSON.stringify({samples: [sample]})});
  const body = await response.json();
  if (!response.ok) { out.innerHTML = `<p class="fail">${esc(JSON.stringify(body.detail))}</p>`; return; }
  const r = body.results[0];
  const rows = Object.entries(r.scores).map(([m, v]) =>
    `<tr><td>${m}</td><td class="score" data-metric="${m}">${num(v)}</td><td>${esc(v === null ? r.details[m].reason : "")}</td></tr>`).join("");
  out.innerHTML = `<p>Gate: <span id="gate" class="${r.gate.passed ? "pass" : "fail"}">${r.gate.passed ? "pass" : "FAIL"}</span>
    (hallucination ${num(r.gate.hallucination_score)}, threshold ${r.gate.threshold}; judge ${esc(r.judge.name)})</p>
    <table id="scores">${rows}</table><p id="highlighted"></p>${LEGEND}`;
  markClaims(document.getElementById("highlighted"), sample.response, unbacked(r));
});

async function follow(id) {
  const out = document.getElementById("job");
  const status = await (await api(`/v1/batches/${id}`)).json();
  out.innerHTML = `Batch ${esc(id)}: <b>${esc(status.status)}</b>, ${status.done}/${status.total} rows` +
    (status.eta_s ? `, about ${Math.round(status.eta_s)} s left` : "") +
    ` · <a href="${withKey(status.links.report)}">report</a>`;
  if (status.status === "queued" || status.status === "running") setTimeout(() => follow(id), 1000);
  else listBatches();
}

document.getElementById("upload").addEventListener("submit", async event => {
  event.preventDefault();
  const form = new FormData();
  form.append("file", document.getElementById("file").files[0]);
  const response = await api("/v1/batches", {method: "POST", body: form});
  const body = await response.json();
  if (!response.ok) {
    document.getElementById("job").innerHTML = `<p class="fail">${esc(JSON.stringify(body.detail))}</p>`;
    return;
  }
  follow(body.id);
});

async function listBatches() {
  const batches = await (await api("/v1/batches")).json();
  document.getElementById("batches").innerHTML = "<tr><th>file</th><th>status</th><th>rows</th><th></th></tr>" +
    batches.map(b => `<tr><td>${esc(b.filename)}</td><td>${esc(b.status)}</td><td>${b.done}/${b.total}</td>
      <td><a href="${withKey(b.links.report)}">report</a> ·
        <a href="#browser" class="browse" data-batch="${esc(b.id)}">rows</a></td></tr>`).join("");
  const options = batches.map(b => `<option value="${esc(b.id)}">${esc(b.filename)} (${esc(b.id.slice(0, 8))})</option>`);
  for (const [id, pick] of [["baseline", 1], ["candidate", 0]]) {
    document.getElementById(id).innerHTML = options.join("");
    document.getElementById(id).selectedIndex = Math.min(pick, options.length - 1);
  }
  compareLink();
  browserBatches(options);
}
function compareLink() {
  const query = new URLSearchParams({baseline: document.getElementById("baseline").value,
                                     candidate: document.getElementById("candidate").value,
                                     by: document.getElementById("by").value});
  if (apiKey) query.set("api_key", apiKey);
  document.getElementById("compare").href = `/v1/comparisons/report?${query}`;
}
for (const id of ["baseline", "candidate", "by"]) document.getElementById(id).addEventListener("input", compareLink);
document.getElementById("batches").addEventListener("click", event => {
  const link = event.target.closest("a.browse");
  if (link) browseBatch(link.dataset.batch);
});
listBatches();
