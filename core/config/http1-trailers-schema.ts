/**
 * Http1ProtocolOptions.enable_trailers, downstream (the HCM's http_protocol_options) and
 * upstream (a cluster's): Envoy's HTTP/1 codec passes trailers on only when it is true.
 * Unset or false, a chunked message's trailer fields are read and dropped (codec_impl.cc
 * onHeaderFieldImpl / onHeaderValueImpl ignore them) and encodeTrailers ends a chunked
 * body with the last chunk alone (StreamEncoderImpl::encodeTrailersBase). HTTP/2 always
 * carries trailers; only an HTTP/1 side's option matters (docs/http.md).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { lazySchema } from "./lazy-schema.ts";

export const enableTrailers = lazySchema(() =>
  z.boolean()).default(false);
