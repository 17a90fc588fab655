/** Links that chat messages and digests may carry: http(s) only, and never with credentials in them. */

/** The URL's text when it is safe to link to, else undefined (other schemes, credentials, garbage). */
export function safeHttpUrl(raw: string | undefined): string | undefined {
  if (!raw?.trim()) return undefined;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) return undefined;
  return url.href;
}

/** Percent-encodes each character of `characters` (a regex character class body) in a URL. */
export function percentEncode(url: string, characters: RegExp): string {
  return url.replace(characters, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}
