/**
 * Envoy's checksum HTTP filter (contrib/checksum/filters/http/source/checksum_filter.cc):
 * the response to a request whose path (without query and fragment: a PathMatcher) matches
 * one of `checksums` must have a body whose SHA-256 is that checksum's. The body is hashed
 * as it passes, not held ("to avoid holding the entire response in memory, the rejection
 * occurs at the end of the stream", checksum.proto): by then the response has started, so a
 * mismatch ends as Envoy's sendLocalReply does after response headers went downstream — the
 * stream is reset, the body's last piece not sent (encodeData holds it back until the next). What can still be answered is:
 * - a path no checksum matches, with `reject_unmatched`: 403 "No checksum for path"
 *   (details no_checksum_for_path), before the request goes upstream;
 * - a matched response without a body: 403 "Expected checksum has value but response has
 *   no body" (checksum_but_no_body), in place of its headers.
 * No stats (Envoy's filter has none).
 */
import type { ChecksumConfig } from "../../config/bootstrap.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
  type StreamFilterCallbacks,
} from "../filter.ts";
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import { compileStringMatch } from "../route/header-matcher.ts";
import { PerConfig } from "../../util/per-config.ts";
import { Sha256 } from "../../util/sha256.ts";

const EMPTY = new Uint8Array(0);

/** The path a PathMatcher matches: up to the query or fragment (Http::PathUtil::removeQueryAndFragment). */
function withoutQueryAndFragment(path: string): string {
  const end = path.search(/[?#]/);
  return end < 0 ? path : path.slice(0, end);
}

/** A filter's checksums with their matchers compiled (Envoy's ChecksumFilterConfig). */
export class ChecksumFilterConfig {
  private readonly matchers: { matches: (path: string) => boolean; sha256: string }[];
  readonly rejectUnmatched: boolean;

  constructor(config: ChecksumConfig) {
    this.matchers = config.checksums.map((c) => ({ matches: compileStringMatch(c.pathMatcher), sha256: c.sha256 }));
    this.rejectUnmatched = config.rejectUnmatched;
  }

  /** The first matching checksum's digest (hex), in config order; undefined when none matches. */
  expectedChecksum(path: string): string | undefined {
    const bare = withoutQueryAndFragment(path);
    for (const m of this.matchers) if (m.matches(bare)) return m.sha256;
    return undefined;
  }
}

const CONFIGS = new PerConfig((config: ChecksumConfig) => new ChecksumFilterConfig(config));

export function checksumFilterConfig(config: ChecksumConfig): ChecksumFilterConfig {
  return CONFIGS.get(config);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

const hex = (bytes: Uint8Array) => {
  let out = "";
  for (const b of bytes) out += (b < 16 ? "0" : "") + b.toString(16);
  return out;
};

export class ChecksumFilter implements StreamFilter {
  private decoder: DecoderFilterCallbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private encoder: EncoderFilterCallbacks | undefined;
  /** The digest the response body must have (hex); undefined: the path matched no checksum. */
  private expected: string | undefined;
  private hash: Sha256 | undefined;
  /** The body's latest piece, not passed on yet (encodeData). */
  private held: Uint8Array | undefined;

  constructor(private readonly config: ChecksumFilterConfig) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.decoder = callbacks;
  }

  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void {
    this.encoder = callbacks;
  }

  /** The response side's callbacks (Envoy replies through encoder_callbacks_ there). */
  private get encoding(): StreamFilterCallbacks {
    return this.encoder ?? this.decoder;
  }

  decodeHeaders(headers: RequestHeaders, _endStream: boolean): FilterHeadersStatus {
    this.expected = this.config.expectedChecksum(headers.path);
    if (this.expected === undefined && this.config.rejectUnmatched) {
      this.decoder.sendLocalReply(403, "No checksum for path", "no_checksum_for_path");
      return FilterHeadersStatus.StopIteration;
    }
    return FilterHeadersStatus.Continue;
  }

  decodeData(_data: Uint8Array, _endStream: boolean): FilterDataStatus {
    return FilterDataStatus.Continue;
  }

  decodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    return FilterTrailersStatus.Continue;
  }

  encodeHeaders(_headers: ResponseHeaders, endStream: boolean): FilterHeadersStatus {
    if (this.expected === undefined) return FilterHeadersStatus.Continue;
    if (endStream) {
      this.encoding.sendLocalReply(403, "Expected checksum has value but response has no body", "checksum_but_no_body");
      return FilterHeadersStatus.StopIteration;
    }
    this.hash = new Sha256();
    return FilterHeadersStatus.Continue;
  }

  /**
   * Hashed as it passes, one piece behind: the piece that came last is held until the next
   * one (or the end) comes, so a mismatch still withholds the body's last piece whatever
   * pieces the upstream codec cuts (Envoy's codec hands the last read's body over with the
   * end of the stream; polyvoy's HTTP/1 codec may end it with an empty piece, after the body
   * went on). At most one piece — one read of the upstream connection — is held.
   */
  encodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    const hash = this.hash;
    if (hash === undefined) return FilterDataStatus.Continue;
    hash.update(data);
    const held = this.held;
    if (endStream) {
      this.held = undefined;
      if (!this.matched(hash)) {
        this.encoding.sendLocalReply(403, "Mismatched checksum", "mismatched_checksum");
        return FilterDataStatus.StopIterationNoBuffer;
      }
      if (held !== undefined) this.encoder?.replaceEncodedData(concat(held, data));
      return FilterDataStatus.Continue;
    }
    // A copy: the codec may reuse the bytes it handed over. What goes on in its place is the
    // piece held before (or nothing), with Continue: a StopIteration here would make the filter
    // manager buffer the next pieces against the connection's buffer limit, as Envoy's filter
    // never does.
    this.held = data.slice();
    this.encoder?.replaceEncodedData(held ?? EMPTY);
    return FilterDataStatus.Continue;
  }

  encodeTrailers(_trailers: HeaderMap): FilterTrailersStatus {
    const hash = this.hash;
    if (hash === undefined) return FilterTrailersStatus.Continue;
    const held = this.held;
    this.held = undefined;
    if (!this.matched(hash)) {
      this.encoding.sendLocalReply(403, "Mismatched checksum", "mismatched_checksum");
      return FilterTrailersStatus.StopIteration;
    }
    // The held piece goes on before the trailers.
    if (held !== undefined) this.encoder?.addEncodedData(held, false);
    return FilterTrailersStatus.Continue;
  }

  private matched(hash: Sha256): boolean {
    this.hash = undefined;
    return hex(hash.digest()) === this.expected;
  }

  onDestroy(): void {
    this.hash = undefined;
    this.held = undefined;
  }
}
