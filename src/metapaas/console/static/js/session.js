// Who is signed in: the user behind the token, shared by the shell and the pages that ask.

import { get, token } from "./api.js";

let me = null; // GET /v1/users/me, once the token works

export const currentUser = () => me;

/** Read the user behind the token; rejects with the API's error (a 401 for a bad token). */
export async function loadUser() {
  me = await get("/v1/users/me");
  return me;
}

/** Forget the token and the user (the shell sends the browser to the login page). */
export function forgetUser() {
  token.clear();
  me = null;
}

/** Called by the login page once the token works. */
export async function signedIn() {
  await loadUser();
  location.hash = "#/types";
}

export function logout() {
  forgetUser();
  location.hash = "#/login";
}
