// What the page's scripts share: escaping, number formatting, API calls that carry the page's key, claim marks.
const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;",
                                                            "'": "&#39;"}[c]));
const num = v => v === null || v === undefined ? "null" : v.toFixed(3);
const METRICS = ["faithfulness", "answer_relevancy", "context_precision", "context_recall", "semantic_similarity"];
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

const LEGEND = `<p class="legend">Claims the contexts do not back: <mark class="unsupported">unsupported</mark>
  (they do not say it) <mark class="contradicted">contradicted</mark> (they say the opposite)</p>`;
