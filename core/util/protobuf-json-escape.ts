/**
 * The characters protobuf's JSON printer writes as \uXXXX though JSON needs no escape for
 * them (MustEscape in src/google/protobuf/json/internal/writer.cc: "not required by the
 * JSON spec, but help to prevent security bugs in JavaScript"): < and >, the C1 controls
 * and DEL, soft hyphen, invisible and direction marks, line and paragraph separators, BOM,
 * interlinear annotations, music formatting and TAG characters. What JSON.stringify already
 * escapes (controls below U+0020, " and \) it escapes the same way.
 */
const PROTOBUF_EXTRA_ESCAPES =
  /[<>\u007f-\u009f\u00ad\u0600-\u0603\u06dd\u070f\u17b4\u17b5\u200b-\u200f\u2028-\u202e\u2060-\u2064\u206a-\u206f\ufeff\ufff9-\ufffb\u{1d173}-\u{1d17a}\u{e0001}\u{e0020}-\u{e007f}]/gu;

/**
 * JSON text (JSON.stringify's) with those characters escaped as protobuf writes them: lowercase
 * hex (WriteUEscape's "\u%04x"), a character beyond U+FFFF as its two surrogates. Outside
 * strings JSON text has none of them, so the whole text may be rewritten.
 */
export function escapeAsProtobufJson(json: string): string {
  return json.replace(PROTOBUF_EXTRA_ESCAPES, (c) => {
    let out = "";
    for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, "0")}`;
    return out;
  });
}
