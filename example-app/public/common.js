// What the demo pages share: JSON posts, RFC 7617 Basic credentials, and status messages.

/** POSTs JSON and answers `{ status, body }` (an unreadable body is `{}`). */
export async function post(path, body, headers = {}) {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
    body: JSON.stringify(body ?? {}),
  });
  return { status: response.status, body: await response.json().catch(() => ({})) };
}

/** RFC 7617 with charset UTF-8: base64 of the UTF-8 bytes, not of the UTF-16 string. */
export function basicCredentials(username, password) {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

/** When to try again after a 429, from its `retryAfter` (seconds): "in 8 minutes", "in 40 seconds". */
export function retryIn(body) {
  const seconds = Number(body?.retryAfter);
  if (!Number.isFinite(seconds) || seconds <= 0) return 'in a moment';
  return seconds >= 90 ? `in ${Math.ceil(seconds / 60)} minutes` : `in ${Math.ceil(seconds)} seconds`;
}

/** A function that shows a message in the element with this id (green when ok). */
export function messageIn(id) {
  return (message, ok = false) => {
    const element = document.getElementById(id);
    element.textContent = message;
    element.className = ok ? 'ok' : '';
  };
}
