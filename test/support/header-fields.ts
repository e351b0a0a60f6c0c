import { HeaderMap } from "../../core/http/header-map.ts";

/** A HeaderMap with these fields, in order (names as given: lowercase them in the test). */
export function headerMap(...pairs: [string, string][]): HeaderMap {
  const headers = new HeaderMap();
  for (const [name, value] of pairs) headers.add(name, value);
  return headers;
}
