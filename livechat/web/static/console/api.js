// api.js: the REST calls of the console, with the agent's bearer token.
// A 401 means the token expired: the console goes back to the login form.
import { S } from './state.js';

let expired = () => {};

// onExpired sets what a 401 does (the login form, in console.js).
export function onExpired(f) { expired = f; }

// ApiError carries the status and the server's error code.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || String(status));
    this.status = status;
    this.code = code || '';
  }
}

// request calls path and answers the Response; it throws ApiError for a
// status that is not ok (after calling the expired hook on 401, unless
// opts.noLogout: an endpoint that may refuse agent tokens, such as the
// satisfaction report, answers 401 to a valid sign-in).
export async function request(path, opts = {}) {
  const headers = { Authorization: 'Bearer ' + S.token };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method: opts.method || 'GET', credentials: 'same-origin', headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
  if (r.ok) return r;
  const b = await r.json().catch(() => ({}));
  if (r.status === 401 && !opts.noLogout) expired();
  throw new ApiError(r.status, b.error && b.error.code, b.error && b.error.message);
}

export const getJSON = async (path) => (await request(path)).json();
export const putJSON = async (path, body) => (await request(path, { method: 'PUT', body })).json().catch(() => ({}));
export const getBlob = async (path) => (await request(path)).blob();
