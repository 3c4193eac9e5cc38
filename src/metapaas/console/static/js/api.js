// The console's only way to the control plane: the public REST API, with the token the
// user typed. The token lives in this tab's sessionStorage and nowhere else.

const TOKEN_KEY = "metapaas.token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** An error answer of the API: its problem+json body (title, detail, errors[]). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

/** Call the API; resolves to the JSON body (null for 204), rejects with an ApiError. */
export async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token.get()}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const answer = await response.json().catch(() => ({ title: response.statusText }));
  if (!response.ok) {
    if (response.status === 401) window.dispatchEvent(new Event("metapaas:unauthorized"));
    throw new ApiError(response.status, answer);
  }
  return answer;
}

export const get = (path) => api("GET", path);

/** Every item of a paged list (bounded: at most `pages` pages). */
export async function listAll(path, pages = 20) {
  const items = [];
  let marker = null;
  for (let i = 0; i < pages; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await get(marker ? `${path}${sep}marker=${encodeURIComponent(marker)}` : path);
    items.push(...page.items);
    marker = page.next_marker;
    if (!marker) break;
  }
  return items;
}

/** The path of an instance of type `slug`, or of something under it. */
export const instancePath = (slug, id, rest = "") =>
  `/v1/types/${encodeURIComponent(slug)}/instances/${encodeURIComponent(id)}${rest}`;
