/**
 * Which content coding a response gets, from the request's Accept-Encoding and the
 * compressor filters of the chain (Envoy's CompressorFilter::chooseEncoding,
 * source/extensions/filters/http/compressor/compressor_filter.cc), made once per stream
 * and shared by every compressor filter through the stream's filter state, so two filters
 * (gzip and brotli, say) never both compress, nor disagree.
 */

/** EncodingDecision::HeaderStat: which Accept-Encoding stat the decision counts. */
export const HeaderStat = { NotValid: 0, Identity: 1, Wildcard: 2, ValidCompressor: 3 } as const;
export type HeaderStat = (typeof HeaderStat)[keyof typeof HeaderStat];

export interface EncodingDecision {
  /** The chosen content coding ("identity" for none). */
  readonly encoding: string;
  readonly stat: HeaderStat;
}

/** What the decision needs of each compressor filter in the chain. */
export interface CompressorInChainConfig {
  /** "gzip" or "br". */
  readonly contentEncoding: string;
  readonly chooseFirst: boolean;
  /** Lowercase media types its response direction compresses (never empty: Envoy's defaults fill it). */
  readonly responseContentTypes: ReadonlySet<string>;
}

const IDENTITY = "identity";
const WILDCARD = "*";

/** absl::SimpleAtof's accepted forms, for a q-value. */
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const FLOAT_WORDS = /^[+-]?(?:inf|infinity|nan)$/i;

/** `source` up to the first `delimiter` (StringUtil::cropRight). */
function cropRight(source: string, delimiter: string): string {
  const at = source.indexOf(delimiter);
  return at < 0 ? source : source.slice(0, at);
}

/** `source` after the first `delimiter`, or all of it (StringUtil::cropLeft). */
function cropLeft(source: string, delimiter: string): string {
  const at = source.indexOf(delimiter);
  return at < 0 ? source : source.slice(at + delimiter.length);
}

/** StringUtil::trim: spaces, tabs and line ends. */
function trim(source: string): string {
  return source.replace(/^[ \t\f\v\n\r]+|[ \t\f\v\n\r]+$/g, "");
}

function parseQ(text: string): number | undefined {
  if (FLOAT.test(text)) return Math.fround(Number(text));
  if (FLOAT_WORDS.test(text)) return text.toLowerCase().includes("nan") ? NaN : text.startsWith("-") ? -Infinity : Infinity;
  return undefined;
}

/** The media type of a content-type value, without parameters, lowercased (Envoy's case-insensitive set lookup). */
export function mediaType(contentType: string | undefined): string {
  return contentType === undefined ? "" : trim(cropRight(contentType, ";")).toLowerCase();
}

export function chooseEncoding(acceptEncoding: string, contentType: string | undefined, chain: readonly CompressorInChainConfig[]): EncodingDecision {
  const type = mediaType(contentType);
  // std::map<std::string, CompressorInChain> in Envoy: keyed by coding, later duplicates ignored.
  const allowed = new Map<string, { registration: number; chooseFirst: boolean }>();
  let registration = 0;
  for (const config of chain) {
    // A filter that would not compress this content type takes no part in the choice.
    if (type !== "" && !config.responseContentTypes.has(type)) continue;
    if (!allowed.has(config.contentEncoding)) allowed.set(config.contentEncoding, { registration: registration++, chooseFirst: config.chooseFirst });
  }

  // The encodings the client accepts, with their q-values (a q of 0 rules a compressor out).
  const pairs: [string, number][] = [];
  for (const token of acceptEncoding.split(",")) {
    if (token === "") continue;
    const pair: [string, number] = [trim(cropRight(token, ";")), 1];
    const params = cropLeft(token, ";");
    if (params !== token) {
      const qValue = cropLeft(params, "=");
      if (qValue !== params && trim(cropRight(params, "=")).toLowerCase() === "q") {
        const q = parseQ(trim(qValue));
        // An unparseable q-value: the token is skipped.
        if (q === undefined) continue;
        pair[1] = q;
      }
    }
    pairs.push(pair);
    // `!q` in C++: NaN is not zero, so it rules nothing out.
    if (pair[1] === 0) allowed.delete(pair[0]);
  }

  if (pairs.length === 0 || allowed.size === 0) return { encoding: IDENTITY, stat: HeaderStat.NotValid };

  // The highest q among what the client accepts and the chain provides; on a tie, a
  // choose_first compressor wins. Envoy's `allowed_compressors[name]` (std::map's
  // operator[]) adds an entry for identity and "*" when a tie makes it look them up.
  let choice: [string, number] = [IDENTITY, 0];
  for (const pair of pairs) {
    const [name, q] = pair;
    if (!allowed.has(name) && name !== IDENTITY && name !== WILDCARD) continue;
    if (q > choice[1]) {
      choice = pair;
    } else if (q === choice[1]) {
      let entry = allowed.get(name);
      if (entry === undefined) allowed.set(name, (entry = { registration: 0, chooseFirst: false }));
      if (entry.chooseFirst) choice = pair;
    }
  }

  // No q above 0: the header is not valid.
  if (choice[1] === 0) return { encoding: IDENTITY, stat: HeaderStat.NotValid };
  if (choice[0] === IDENTITY) return { encoding: IDENTITY, stat: HeaderStat.Identity };
  if (choice[0] === WILDCARD) {
    // The first registered compressor: the smallest registration count, then the smallest key (std::map order).
    let first: string | undefined;
    let firstRegistration = Infinity;
    for (const [name, entry] of allowed) {
      if (entry.registration < firstRegistration || (entry.registration === firstRegistration && name < first!)) {
        first = name;
        firstRegistration = entry.registration;
      }
    }
    return { encoding: first!, stat: HeaderStat.Wildcard };
  }
  return { encoding: choice[0], stat: HeaderStat.ValidCompressor };
}
