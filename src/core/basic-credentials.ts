import { AuthenticationFailure } from '../errors.js';

export interface BasicCredentials {
  username: string;
  password: string;
}

// RFC 4648 base64 in canonical form: whole 4-character groups, at most two `=` at the end.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// C0 controls and DEL (RFC 7617 §2: neither user-id nor password may contain control characters),
// plus C1 controls, which UTF-8 can also carry.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Longest Authorization header value parsed; anything longer is refused without decoding. */
export const MAX_BASIC_HEADER_LENGTH = 4096;

function malformed(reason: string): AuthenticationFailure {
  return new AuthenticationFailure('missing_credentials', `Malformed Basic credentials: ${reason}.`, 400);
}

/**
 * Parses an `Authorization: Basic …` header value per RFC 7617 with `charset="UTF-8"`:
 * the scheme is case-insensitive, the token is strict base64 of UTF-8 `user-id ":" password`,
 * split at the FIRST colon (passwords may contain colons, user-ids may not), and both parts are
 * NFC-normalised as the RFC's UTF-8 profiles require.
 *
 * Returns `undefined` when the header is absent or uses another scheme (so other strategies may
 * handle it); throws an `AuthenticationFailure` (`missing_credentials`, 400) when it is Basic but
 * malformed.
 */
export function parseBasicAuthorization(header: string | undefined): BasicCredentials | undefined {
  if (header === undefined || header === '') return undefined;
  const match = /^([A-Za-z]+)[ ]+(.*)$/s.exec(header.trim());
  if (!match || match[1]!.toLowerCase() !== 'basic') {
    if (/^basic$/i.test(header.trim())) throw malformed('the token after "Basic" is missing');
    return undefined;
  }
  const token = match[2]!;
  if (header.length > MAX_BASIC_HEADER_LENGTH) throw malformed('the header is too long');
  if (!BASE64.test(token)) throw malformed('the token is not valid base64');
  let decoded: string;
  try {
    decoded = STRICT_UTF8.decode(Buffer.from(token, 'base64'));
  } catch {
    throw malformed('the decoded credentials are not valid UTF-8');
  }
  const colon = decoded.indexOf(':');
  if (colon === -1) throw malformed('the decoded credentials have no ":" between user-id and password');
  if (CONTROL.test(decoded)) throw malformed('the credentials contain control characters');
  const username = decoded.slice(0, colon).normalize('NFC');
  const password = decoded.slice(colon + 1).normalize('NFC');
  if (username === '') throw malformed('the user-id is empty');
  return { username, password };
}
