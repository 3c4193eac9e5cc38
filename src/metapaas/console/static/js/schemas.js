// The request schemas of the API's own OpenAPI document: the admin pages build their forms
// from them, as the types' pages build theirs from the types' schemas.

import { get } from "./api.js";

let openapi = null;

/** A request schema of /openapi.json, its references resolvable as `$defs`. */
export async function requestSchema(name) {
  openapi = openapi || (await get("/openapi.json"));
  return { ...openapi.components.schemas[name], $defs: openapi.components.schemas };
}
