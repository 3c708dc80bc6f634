// What the page's scripts share: escaping, number formatting, API calls that carry the page's key, claim marks.
const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                                                            "'": "&#39;"}[c]));
const num = v => v === null || v === undefined ? "null" : v.toFixed(3);
const METRICS = ["faithfulness", "answer_relevancy", "context_precision", "context_recall", "semantic_similarity",
                 "citation_recall", "citation_precision"];
// With API keys on, the page is opened as /?api_key=...; every call and report link carries the key.
const apiKey = new URLSearchParams(location.search).get("api_key");
const api = (url, options = {}) => fetch(url, {...options, headers: {...(options.headers || {}),
                                                                   ...(apiKey ? {"X-API-Key": apiKey} : {})}});
const withKey = url => apiKey ? `${url}${url.includes("?") ? "&" : "?"}api_key=${encodeURIComponent(apiKey)}` : url;

// The claims of a result that the contexts do not back, each with its verdict (unsupported or contradicted).
function unbacked(result) {
  const claims = result?.details?.faithfulness?.claims;
  if (claims && claims.length) return claims.filter(c => c.verdict !== "supported");
  return (result?.gate?.unsupported_claims || []).map(claim => ({claim, verdict: "unsupported"}));
}

// The answer with each unbacked claim marked by its verdict; claims not found verbatim are listed after it.
function highlight(answer, claims) {
  let html = esc(answer);
  for (const {claim, verdict} of claims) {
    const quoted = esc(claim);
    const mark = `<mark class="${verdict === "contradicted" ? "contradicted" : "unsupported"}">${quoted}</mark>`;
    html = quoted && html.includes(quoted) ? html.replace(quoted, () => mark) : html + `<br>${mark}`;
  }
  return html;
}

// The same marks built as DOM nodes (no HTML parsing of the answer), placed at each claim's span: the server's
// [start, end) in code points, which also covers a claim that rewords the answer or skips its citation markers.
// A claim without a span is marked where it occurs verbatim; one found neither way is listed after the answer.
function markClaims(target, answer, claims) {
  const chars = Array.from(answer);
  const placed = [], unplaced = [];
  for (const c of claims) {
    let at = Array.isArray(c.span) && c.span[1] <= chars.length ? c.span : null;
    const found = at || !c.claim ? -1 : answer.indexOf(c.claim);
    if (found >= 0) {
      const start = Array.from(answer.slice(0, found)).length;
      at = [start, start + Array.from(c.claim).length];
    }
    (at ? placed : unplaced).push({...c, at});
  }
  placed.sort((a, b) => a.at[0] - b.at[0]);
  const markOf = (text, verdict) => {
    const mark = document.createElement("mark");
    mark.className = verdict === "contradicted" ? "contradicted" : "unsupported";
    mark.textContent = text;
    return mark;
  };
  target.replaceChildren();
  let cursor = 0;
  for (const c of placed) {
    if (c.at[0] < cursor) { unplaced.push(c); continue; }  // overlaps a claim already marked
    target.append(chars.slice(cursor, c.at[0]).join(""), markOf(chars.slice(c.at[0], c.at[1]).join(""), c.verdict));
    cursor = c.at[1];
  }
  target.append(chars.slice(cursor).join(""));
  for (const c of unplaced) target.append(document.createElement("br"), markOf(c.claim, c.verdict));
}

const LEGEND = `<p class="legend">Claims the contexts do not back: <mark class="unsupported">unsupported</mark>
  (they do not say it) <mark class="contradicted">contradicted</mark> (they say the opposite)</p>`;
