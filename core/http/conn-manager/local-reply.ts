import type { LocalReplyBodyFormat, LocalReplyConfig, LocalReplyMapperConfig } from "../../config/bootstrap.ts";
import type { AccessLogContext } from "../../access-log/context.ts";
import { compileAccessLogFilter, type AccessLogFilter, type FilterRandom } from "../../access-log/filter.ts";
import { compileFormat, type AccessLogFormatter } from "../../access-log/format.ts";
import type { ResponseHeaders } from "../message.ts";
import { applyHeaderValueOptions, type HeaderFormatterSource } from "../route/custom-headers.ts";

/** What a local reply looks like once rewritten: its body and the content type its format gives. */
export interface RewrittenLocalReply {
  body: string;
  contentType: string;
}

/**
 * The stream a local reply belongs to, as local_reply_config reads it: the access-log
 * context with the reply's headers as the response and `body` as %LOCAL_REPLY_BODY%,
 * and the stream's response code set to the reply's.
 */
export interface LocalReplyStream {
  localReplyContext(headers: ResponseHeaders, body: string): AccessLogContext & { localReplyBody: string | undefined };
  setResponseCode(status: number): void;
}

/**
 * HttpConnectionManager.local_reply_config (Envoy's local_reply.cc, LocalReplyImpl::rewrite):
 * the first mapper whose filter admits the reply may change its status, replace its body,
 * add headers and choose a body format; the body is then formatted (body_format, or the
 * body as it is as text/plain). Compiled once per HCM.
 */
export class LocalReply {
  private readonly mappers: ResponseMapper[];
  private readonly bodyFormatter: BodyFormatter;

  constructor(config: LocalReplyConfig, random: FilterRandom) {
    this.mappers = config.mappers.map((mapper) => new ResponseMapper(mapper, random));
    this.bodyFormatter = config.bodyFormat === undefined ? DEFAULT_BODY_FORMATTER : new BodyFormatter(config.bodyFormat);
  }

  /** Rewrite the reply whose head is `headers` (its status may change there) and whose body is `body`. */
  rewrite(headers: ResponseHeaders, body: string, stream: LocalReplyStream): RewrittenLocalReply {
    // Envoy sets the code on the stream first: status_code_filter reads it from there.
    stream.setResponseCode(headers.status);
    const context = stream.localReplyContext(headers, body);
    let formatter: BodyFormatter | undefined;
    for (const mapper of this.mappers) {
      if (!mapper.filter(context)) continue;
      if (mapper.body !== undefined) body = mapper.body;
      if (mapper.config.headersToAdd.length > 0) applyHeaderValueOptions(headers, NO_REMOVALS, mapper.config.headersToAdd, new FixedContext(context), headers);
      if (mapper.config.statusCode !== undefined && mapper.config.statusCode !== headers.status) {
        headers.status = mapper.config.statusCode;
        stream.setResponseCode(headers.status);
      }
      formatter = mapper.bodyFormatter;
      break;
    }
    formatter ??= this.bodyFormatter;
    context.localReplyBody = body;
    return { body: formatter.format(context), contentType: formatter.contentType };
  }
}

class ResponseMapper {
  readonly filter: AccessLogFilter;
  readonly body: string | undefined;
  readonly bodyFormatter: BodyFormatter | undefined;

  constructor(
    readonly config: LocalReplyMapperConfig,
    random: FilterRandom,
  ) {
    this.filter = compileAccessLogFilter(config.filter, random);
    this.body = config.body;
    this.bodyFormatter = config.bodyFormatOverride === undefined ? undefined : new BodyFormatter(config.bodyFormatOverride);
  }
}

/** Envoy's BodyFormatter: a format and its content type. */
class BodyFormatter {
  private readonly formatter: AccessLogFormatter | undefined;
  readonly contentType: string;

  /** No config: the body as it is ("%LOCAL_REPLY_BODY%"), text/plain. */
  constructor(config?: LocalReplyBodyFormat) {
    this.formatter = config === undefined ? undefined : compileFormat(config.format);
    this.contentType = config?.contentType ?? "text/plain";
  }

  format(context: AccessLogContext): string {
    return this.formatter === undefined ? (context.localReplyBody ?? "") : this.formatter.format(context);
  }
}

const DEFAULT_BODY_FORMATTER = new BodyFormatter();

/** Compiled once per local_reply_config (an HCM's), shared by its connections' streams. */
const COMPILED = new WeakMap<LocalReplyConfig, LocalReply>();

export function localReplyFor(config: LocalReplyConfig, random: FilterRandom): LocalReply {
  let compiled = COMPILED.get(config);
  if (compiled === undefined) {
    compiled = new LocalReply(config, random);
    COMPILED.set(config, compiled);
  }
  return compiled;
}

/** headers_to_add's %COMMAND% values read the reply's context. */
const NO_REMOVALS: readonly string[] = [];

class FixedContext implements HeaderFormatterSource {
  constructor(private readonly context: AccessLogContext) {}
  headerFormatterContext(): AccessLogContext {
    return this.context;
  }
}
