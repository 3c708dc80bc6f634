// The page's Alerts section: every rule with its state and last window, a form that creates a rule, a button
// that deletes one, and the most recent events. Built as DOM nodes with textContent: rule names, apps and slices
// are the caller's text and never become markup.

// A node with its text and attributes (class, title, data-*).
function node(tag, text, attributes = {}) {
  const element = document.createElement(tag);
  if (text !== undefined && text !== null) element.textContent = String(text);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  return element;
}

function tableRow(cells, header = false) {
  const tr = document.createElement("tr");
  for (const cell of cells) tr.append(cell instanceof Node ? cell : node(header ? "th" : "td", cell));
  return tr;
}

const stateCell = state => {
  const td = node("td");
  td.append(node("span", state === "firing" ? "firing" : "ok", {class: state === "firing" ? "fail" : "pass"}));
  return td;
};

function watches(rule) {
  const where = [rule.app || "all apps", ...Object.entries(rule.slice).map(([k, v]) => `${k}=${v}`)].join(" ");
  return `${rule.metric} < ${rule.threshold} over ${rule.window_s} s, ${where} (at least ${rule.min_count})`;
}

function deleteButton(rule) {
  const td = node("td");
  const button = node("button", "delete", {type: "button", class: "delete-alert", "data-id": rule.id});
  button.addEventListener("click", () => deleteAlert(rule));
  td.append(button);
  return td;
}

async function listAlerts() {
  const [rulesAnswer, eventsAnswer] = await Promise.all([api("/v1/alerts"), api("/v1/alerts/events?limit=20")]);
  if (!rulesAnswer.ok || !eventsAnswer.ok) return;
  const rules = await rulesAnswer.json(), events = await eventsAnswer.json();
  const ruleTable = document.getElementById("alert-rules");
  if (rules.length) {
    ruleTable.replaceChildren(tableRow(["rule", "watches", "state", "window mean", "records", ""], true),
      ...rules.map(r => tableRow([node("td", r.name, {class: "alert-name"}), watches(r), stateCell(r.state),
                                  num(r.last_value), r.last_count ?? "-", deleteButton(r)])));
  } else {
    ruleTable.replaceChildren(tableRow(["No alert rules yet: create one below, with ragmeter alerts add, "
                                        + "or POST /v1/alerts."]));
  }
  const eventTable = document.getElementById("alert-events");
  eventTable.replaceChildren(...(events.length ? [
    tableRow(["time", "rule", "event", "mean", "records", "webhook"], true),
    ...events.map(e => tableRow([new Date(e.at).toLocaleString(), e.rule_name,
                                 node("td", e.kind, {class: e.kind === "fired" ? "fail" : "pass"}), num(e.value),
                                 e.count, node("td", e.delivery.status, {title: e.delivery.last_error ?? ""})]))]
    : []));
}

function alertStatus(text, failed) {
  const status = document.getElementById("alert-status");
  status.replaceChildren(node("span", text, {class: failed ? "fail" : "pass"}));
  return status;
}

// "model:gpt-4o; lang:en" (or model=gpt-4o) -> {model: "gpt-4o", lang: "en"}; null when an entry has no value.
function parseSlice(text) {
  const slice = {};
  for (const entry of text.split(";").map(s => s.trim()).filter(Boolean)) {
    const at = entry.search(/[:=]/);
    if (at < 1) return null;
    slice[entry.slice(0, at).trim()] = entry.slice(at + 1).trim();
  }
  return slice;
}

// The form's fields as the API's body: empty optional fields are left out, so the API's defaults apply.
function alertBody() {
  const value = id => document.getElementById(id).value.trim();
  const body = {metric: value("alert-metric")};
  for (const [field, id] of [["name", "alert-name"], ["app", "alert-app"], ["webhook_url", "alert-webhook"]])
    if (value(id)) body[field] = value(id);
  // A number left empty is left out: the API then names the missing field (or uses its default).
  for (const [field, id] of [["window_s", "alert-window"], ["threshold", "alert-threshold"],
                             ["min_count", "alert-min-count"]])
    if (value(id) !== "") body[field] = Number(value(id));
  body.slice = parseSlice(value("alert-where"));
  return body;
}

async function createAlert(event) {
  event.preventDefault();
  const body = alertBody();
  if (body.slice === null) {
    alertStatus("slice: write each condition as field:value, separated by ;", true);
    return;
  }
  const response = await api("/v1/alerts", {method: "POST", headers: {"Content-Type": "application/json"},
                                            body: JSON.stringify(body)});
  const answer = await response.json().catch(() => ({detail: response.statusText}));
  if (!response.ok) {
    alertStatus(errorText(answer.detail), true);
    return;
  }
  const status = alertStatus(`Created "${answer.name}".`, false);
  if (answer.webhook_url) {  // the secret is in this answer only: the receiver needs it to check signatures
    status.append(" Webhook secret (shown once): ", node("code", answer.secret, {id: "alert-secret"}));
  }
  await listAlerts();
}

async function deleteAlert(rule) {
  if (!confirm(`Delete the alert rule "${rule.name}" and its events?`)) return;
  const response = await api(`/v1/alerts/${encodeURIComponent(rule.id)}`, {method: "DELETE"});
  if (!response.ok && response.status !== 404) {  // 404: already deleted (another tab, the CLI)
    const answer = await response.json().catch(() => ({detail: response.statusText}));
    alertStatus(errorText(answer.detail), true);
    return;
  }
  alertStatus(`Deleted "${rule.name}".`, false);
  await listAlerts();
}

document.getElementById("alert-form").addEventListener("submit", createAlert);
listAlerts();
setInterval(listAlerts, 10000);
