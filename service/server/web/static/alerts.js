// The page's Alerts section: every rule with its state and last window, and the most recent events.
async function listAlerts() {
  const [rulesAnswer, eventsAnswer] = await Promise.all([api("/v1/alerts"), api("/v1/alerts/events?limit=20")]);
  if (!rulesAnswer.ok || !eventsAnswer.ok) return;
  const rules = await rulesAnswer.json(), events = await eventsAnswer.json();
  const state = s => s === "firing" ? '<span class="fail">firing</span>' : '<span class="pass">ok</span>';
  const where = r => esc(r.app || "all apps") + Object.entries(r.slice).map(([k, v]) => ` ${esc(k)}=${esc(v)}`).join("");
  document.getElementById("alert-rules").innerHTML = rules.length ?
    "<tr><th>rule</th><th>watches</th><th>state</th><th>window mean</th><th>records</th></tr>" +
    rules.map(r => `<tr><td>${esc(r.name)}</td><td>${esc(r.metric)} &lt; ${r.threshold} over ${r.window_s} s,
      ${where(r)} (at least ${r.min_count})</td><td>${state(r.state)}</td><td>${num(r.last_value)}</td>
      <td>${r.last_count ?? "-"}</td></tr>`).join("") :
    "<tr><td>No alert rules yet: <code>ragmeter alerts add</code> or POST /v1/alerts.</td></tr>";
  document.getElementById("alert-events").innerHTML = events.length ?
    "<tr><th>time</th><th>rule</th><th>event</th><th>mean</th><th>records</th><th>webhook</th></tr>" +
    events.map(e => `<tr><td>${esc(new Date(e.at).toLocaleString())}</td><td>${esc(e.rule_name)}</td>
      <td class="${e.kind === "fired" ? "fail" : "pass"}">${esc(e.kind)}</td><td>${num(e.value)}</td>
      <td>${e.count}</td><td title="${esc(e.delivery.last_error)}">${esc(e.delivery.status)}</td></tr>`).join("") : "";
}
listAlerts();
setInterval(listAlerts, 10000);
