/**
 * Envoy's response flags (`StreamInfo::CoreResponseFlag`, envoy/stream_info/stream_info.h):
 * why a request or connection ended the way it did. Each value is the flag's short
 * string (`%RESPONSE_FLAGS%`, source/common/stream_info/utility.cc), so a flag is
 * stored, compared and logged as is, with no table on the way.
 */
export const CoreResponseFlag = {
  FailedLocalHealthCheck: "LH",
  NoHealthyUpstream: "UH",
  UpstreamRequestTimeout: "UT",
  LocalReset: "LR",
  UpstreamRemoteReset: "UR",
  UpstreamConnectionFailure: "UF",
  UpstreamConnectionTermination: "UC",
  UpstreamOverflow: "UO",
  NoRouteFound: "NR",
  DelayInjected: "DI",
  FaultInjected: "FI",
  RateLimited: "RL",
  UnauthorizedExternalService: "UAEX",
  RateLimitServiceError: "RLSE",
  DownstreamConnectionTermination: "DC",
  UpstreamRetryLimitExceeded: "URX",
  StreamIdleTimeout: "SI",
  InvalidEnvoyRequestHeaders: "IH",
  DownstreamProtocolError: "DPE",
  UpstreamMaxStreamDurationReached: "UMSDR",
  ResponseFromCacheFilter: "RFCF",
  NoFilterConfigFound: "NFCF",
  DurationTimeout: "DT",
  UpstreamProtocolError: "UPE",
  NoClusterFound: "NC",
  OverloadManager: "OM",
  DnsResolutionFailed: "DF",
  DropOverLoad: "DO",
  DownstreamRemoteReset: "DR",
} as const;

/** One response flag, as its short string ("UF", "URX", …). */
export type ResponseFlag = (typeof CoreResponseFlag)[keyof typeof CoreResponseFlag];

/**
 * The long names `%RESPONSE_FLAGS_LONG%` prints (Envoy's ResponseFlagUtils::ALL_RESPONSE_STRINGS_FLAGS):
 * the enum's names, except the two Envoy spells otherwise there.
 */
const LONG_NAMES: ReadonlyMap<string, string> = new Map<string, string>([
  ...Object.entries(CoreResponseFlag).map(([name, short]): [string, string] => [short, name]),
  ["OM", "OverloadManagerTerminated"],
  ["DO", "DropOverload"],
]);

/** A flag's long name; an unknown short string is returned as is. */
export function responseFlagLongName(flag: string): string {
  return LONG_NAMES.get(flag) ?? flag;
}
