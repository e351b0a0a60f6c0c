/**
 * The HTTP filter manager (core/http/conn-manager/filter-manager.ts), on the memory
 * runtime: every filter status on the request and response paths, buffering and its
 * limit (413 / 500), watermarks, continuing from a deferred callback, local replies
 * through the encoder filters, onDestroy, per-route filter config. The filters here are
 * test filters that follow a script and log what they see; the stream side is a fake
 * that logs what would go to the codec. (The network filter manager is in
 * filter-manager.test.ts.)
 */
import { describe, expect, test } from "vitest";
import * as z from "../../../../core/config/schema-kit/index.ts";
import type { HttpFilterConfig, RouteConfiguration, RouteConfig, VirtualHostConfig } from "../../../../core/config/bootstrap.ts";
import { ConfigError } from "../../../../core/config/errors.ts";
import { loadBootstrap } from "../../../../core/config/load.ts";
import { PER_ROUTE_CONFIG_SCHEMAS } from "../../../../core/config/per-filter-config-schema.ts";
import { FilterManager, type FilterManagerCallbacks } from "../../../../core/http/conn-manager/filter-manager.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  type DecoderFilterCallbacks,
  type DownstreamWatermarkCallbacks,
  type EncoderFilterCallbacks,
  type StreamFilter,
} from "../../../../core/http/filter.ts";
import { createFilterChain, loadHttpFilterFactories, registerHttpFilterFactory, registerLazyHttpFilterFactory } from "../../../../core/http/filters/http-filter-registry.ts";
import { HeaderMap } from "../../../../core/http/header-map.ts";
import { RequestHeaders, ResponseHeaders } from "../../../../core/http/message.ts";
import type { RouteMatch } from "../../../../core/http/route/route-table.ts";
import { StreamInfo } from "../../../../core/http/stream-info.ts";
import type { ServerContext } from "../../../../core/server-context.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

type Script = {
  decodeHeaders?: (f: TestFilter, end: boolean) => FilterHeadersStatus;
  decodeData?: (f: TestFilter, data: Uint8Array, end: boolean) => FilterDataStatus;
  decodeTrailers?: (f: TestFilter) => FilterTrailersStatus;
  encodeHeaders?: (f: TestFilter, headers: ResponseHeaders, end: boolean) => FilterHeadersStatus;
  encodeData?: (f: TestFilter, data: Uint8Array, end: boolean) => FilterDataStatus;
  encodeTrailers?: (f: TestFilter) => FilterTrailersStatus;
};

/** A filter on both paths that logs each call and returns what its script says (Continue by default). */
class TestFilter implements StreamFilter {
  dec!: DecoderFilterCallbacks;
  enc!: EncoderFilterCallbacks;
  destroyed = 0;

  constructor(
    readonly name: string,
    readonly log: string[],
    readonly script: Script = {},
  ) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.dec = callbacks;
  }
  setEncoderFilterCallbacks(callbacks: EncoderFilterCallbacks): void {
    this.enc = callbacks;
  }
  decodeHeaders(_headers: RequestHeaders, end: boolean): FilterHeadersStatus {
    this.log.push(`${this.name}.decodeHeaders${end ? " end" : ""}`);
    return this.script.decodeHeaders?.(this, end) ?? FilterHeadersStatus.Continue;
  }
  decodeData(data: Uint8Array, end: boolean): FilterDataStatus {
    this.log.push(`${this.name}.decodeData "${text(data)}"${end ? " end" : ""}`);
    return this.script.decodeData?.(this, data, end) ?? FilterDataStatus.Continue;
  }
  decodeTrailers(trailers: HeaderMap): FilterTrailersStatus {
    this.log.push(`${this.name}.decodeTrailers ${trailers.entries().map(([k, v]) => `${k}=${v}`).join(",")}`);
    return this.script.decodeTrailers?.(this) ?? FilterTrailersStatus.Continue;
  }
  encodeHeaders(headers: ResponseHeaders, end: boolean): FilterHeadersStatus {
    this.log.push(`${this.name}.encodeHeaders ${headers.status}${end ? " end" : ""}`);
    return this.script.encodeHeaders?.(this, headers, end) ?? FilterHeadersStatus.Continue;
  }
  encodeData(data: Uint8Array, end: boolean): FilterDataStatus {
    this.log.push(`${this.name}.encodeData "${text(data)}"${end ? " end" : ""}`);
    return this.script.encodeData?.(this, data, end) ?? FilterDataStatus.Continue;
  }
  encodeTrailers(): FilterTrailersStatus {
    this.log.push(`${this.name}.encodeTrailers`);
    return this.script.encodeTrailers?.(this) ?? FilterTrailersStatus.Continue;
  }
  onDestroy(): void {
    this.destroyed++;
  }
}

/** Like the router: takes the request (headers stop, data taken, trailers stop) and answers when told. */
function terminal(log: string[]): TestFilter {
  return new TestFilter("router", log, {
    decodeHeaders: () => FilterHeadersStatus.StopIteration,
    decodeData: () => FilterDataStatus.StopIterationNoBuffer,
    decodeTrailers: () => FilterTrailersStatus.StopIteration,
  });
}

/** The stream side: what reaches the codec, and the stream's other effects. */
class FakeStream implements FilterManagerCallbacks {
  readonly streamInfo = new StreamInfo(0);
  readonly requestHeaders = new RequestHeaders();
  route: RouteMatch | undefined;
  routeConfig: RouteConfiguration = { name: "", virtualHosts: [], ...noMutations(), ignorePortInHostMatching: false, mostSpecificHeaderMutationsWins: false };
  readonly traced = false;
  rqTooLarge = 0;
  rsTooLarge = 0;
  resets = 0;
  body = "";

  constructor(readonly log: string[]) {}

  trace(): void {}
  headerFormatterContext(): never {
    throw new Error("no formatted header values here");
  }
  encodeHeaders(headers: ResponseHeaders, end: boolean): void {
    this.log.push(`codec.headers ${headers.status}${end ? " end" : ""}`);
  }
  encodeData(data: Uint8Array, end: boolean): void {
    this.body += text(data);
    this.log.push(`codec.data "${text(data)}"${end ? " end" : ""}`);
  }
  encodeTrailers(): void {
    this.log.push("codec.trailers");
  }
  encodeUpgradeData(): void {}
  resetStream(): void {
    this.resets++;
    this.log.push("reset");
  }
  readDisableDownstream(disable: boolean): void {
    this.log.push(`readDisable ${disable}`);
  }
  onRequestDataTooLarge(): void {
    this.rqTooLarge++;
  }
  onResponseDataTooLarge(): void {
    this.rsTooLarge++;
  }
}

function noMutations() {
  return { requestHeadersToAdd: [], requestHeadersToRemove: [], responseHeadersToAdd: [], responseHeadersToRemove: [] };
}

type Kind = "decoder" | "encoder" | "dual";

/** A manager over `filters` (config order), with `limit` bytes of buffer. */
function chain(log: string[], filters: [TestFilter, Kind][], limit = 1024): { fm: FilterManager; stream: FakeStream } {
  const stream = new FakeStream(log);
  const fm = new FilterManager(stream, limit);
  for (const [filter, kind] of filters) {
    if (kind === "decoder") fm.addStreamDecoderFilter(filter, filter.name);
    else if (kind === "encoder") fm.addStreamEncoderFilter(filter, filter.name);
    else fm.addStreamFilter(filter, filter.name);
  }
  return { fm, stream };
}

function trailers(): HeaderMap {
  const t = new HeaderMap();
  t.add("x-checksum", "abc");
  return t;
}

describe("HTTP filter manager: order", () => {
  test("decoder filters run in config order, encoder filters in reverse, then the codec", () => {
    const log: string[] = [];
    const a = new TestFilter("a", log);
    const b = new TestFilter("b", log);
    const c = new TestFilter("c", log);
    const router = terminal(log);
    const { fm } = chain(log, [[a, "dual"], [b, "decoder"], [c, "encoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), false);
    fm.decodeData(bytes("hi"), false);
    fm.decodeTrailers(trailers());
    router.dec.encodeHeaders(new ResponseHeaders(200), false);
    router.dec.encodeData(bytes("ok"), false);
    router.dec.encodeTrailers(trailers());
    expect(log).toEqual([
      "a.decodeHeaders",
      "b.decodeHeaders",
      "router.decodeHeaders",
      'a.decodeData "hi"',
      'b.decodeData "hi"',
      'router.decodeData "hi"',
      "a.decodeTrailers x-checksum=abc",
      "b.decodeTrailers x-checksum=abc",
      "router.decodeTrailers x-checksum=abc",
      "c.encodeHeaders 200",
      "a.encodeHeaders 200",
      "codec.headers 200",
      'c.encodeData "ok"',
      'a.encodeData "ok"',
      'codec.data "ok"',
      "c.encodeTrailers",
      "a.encodeTrailers",
      "codec.trailers",
    ]);
  });

  test("request trailers reach the terminal filter after it stopped at the headers (chunked request with a trailer)", () => {
    const log: string[] = [];
    const router = terminal(log);
    const { fm } = chain(log, [[router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), false);
    fm.decodeData(bytes("hello"), false);
    fm.decodeData(bytes(""), false);
    fm.decodeTrailers(trailers());
    expect(log).toEqual(["router.decodeHeaders", 'router.decodeData "hello"', 'router.decodeData ""', "router.decodeTrailers x-checksum=abc"]);
  });

  test("onDestroy is called once per filter, a dual filter's too, and only once however often the stream ends", () => {
    const log: string[] = [];
    const filters = [new TestFilter("a", log), new TestFilter("b", log), new TestFilter("c", log), terminal(log)];
    const { fm } = chain(log, [[filters[0]!, "dual"], [filters[1]!, "encoder"], [filters[2]!, "decoder"], [filters[3]!, "decoder"]]);
    fm.destroy();
    fm.destroy();
    expect(filters.map((f) => f.destroyed)).toEqual([1, 1, 1, 1]);
  });
});

describe("HTTP filter manager: decoder statuses", () => {
  test("headers StopIteration: data still reaches the stopped filter, not the next; continueDecoding from a timer resumes", () => {
    const runtime = new MemoryRuntime({ seed: 1 });
    const log: string[] = [];
    const a = new TestFilter("a", log, {
      decodeHeaders: (f) => {
        runtime.setTimeout(() => f.dec.continueDecoding(), 10);
        return FilterHeadersStatus.StopIteration;
      },
      decodeData: () => FilterDataStatus.StopIterationAndBuffer,
    });
    const router = terminal(log);
    const { fm } = chain(log, [[a, "decoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), false);
    fm.decodeData(bytes("hello "), false);
    fm.decodeData(bytes("world"), true);
    expect(log).toEqual(["a.decodeHeaders", 'a.decodeData "hello "', 'a.decodeData "world" end']);
    expect(text(a.dec.decodingBuffer()!.toBytes())).toBe("hello world");
    runtime.advance(10);
    runtime.runDue();
    expect(log.slice(3)).toEqual(["router.decodeHeaders", 'router.decodeData "hello world" end']);
    expect(a.dec.decodingBuffer()).toBeUndefined();
  });

  test("headers StopIteration, then data returning Continue: held headers, then the data, go on", () => {
    const log: string[] = [];
    const a = new TestFilter("a", log, { decodeHeaders: () => FilterHeadersStatus.StopIteration });
    const router = terminal(log);
    const { fm } = chain(log, [[a, "decoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), false);
    fm.decodeData(bytes("x"), true);
    expect(log).toEqual(["a.decodeHeaders", 'a.decodeData "x" end', "router.decodeHeaders", 'router.decodeData "x" end']);
  });

  test("a headers-only request held by StopIteration continues as headers-only", () => {
    const log: string[] = [];
    const a = new TestFilter("a", log, { decodeHeaders: () => FilterHeadersStatus.StopIteration });
    const router = terminal(log);
    const { fm } = chain(log, [[a, "decoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), true);
    a.dec.continueDecoding();
    a.dec.continueDecoding(); // not stopped any more: nothing happens
    expect(log).toEqual(["a.decodeHeaders end", "router.decodeHeaders end"]);
  });

  test("StopAllIterationAndBuffer: body and trailers wait in front of the filter; on continue it gets them, then the rest", () => {
    const log: string[] = [];
    const a = new TestFilter("a", log, { decodeHeaders: () => FilterHeadersStatus.StopAllIterationAndBuffer });
    const router = terminal(log);
    const { fm } = chain(log, [[a, "decoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), false);
    fm.decodeData(bytes("ab"), false);
    fm.decodeData(bytes("cd"), false);
    fm.decodeTrailers(trailers());
    expect(log).toEqual(["a.decodeHeaders"]);
    a.dec.continueDecoding();
    expect(log.slice(1)).toEqual([
      "router.decodeHeaders",
      'a.decodeData "abcd"',
      'router.decodeData "abcd"',
      "a.decodeTrailers x-checksum=abc",
      "router.decodeTrailers x-checksum=abc",
    ]);
  });

  test("data StopIterationAndBuffer: chunks accumulate until the filter returns Continue", () => {
    const log: string[] = [];
    const a = new TestFilter("a", log, { decodeData: (_f, _d, end) => (end ? FilterDataStatus.Continue : FilterDataStatus.StopIterationAndBuffer) });
    const router = terminal(log);
    const { fm } = chain(log, [[a, "decoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), false);
    fm.decodeData(bytes("1"), false);
    fm.decodeData(bytes("2"), false);
    fm.decodeData(bytes("3"), true);
    expect(log).toEqual(["a.decodeHeaders", "router.decodeHeaders", 'a.decodeData "1"', 'a.decodeData "2"', 'a.decodeData "3" end', 'router.decodeData "123" end']);
  });

  test("StopIterationNoBuffer on the last data: a continue passes an empty end of stream on", () => {
    const log: string[] = [];
    const a = new TestFilter("a", log, { decodeData: () => FilterDataStatus.StopIterationNoBuffer });
    const router = terminal(log);
    const { fm } = chain(log, [[a, "decoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), false);
    fm.decodeData(bytes("gone"), true);
    a.dec.continueDecoding();
    expect(log).toEqual(["a.decodeHeaders", "router.decodeHeaders", 'a.decodeData "gone" end', 'router.decodeData "" end']);
  });

  test("trailers StopIteration holds them until continueDecoding", () => {
    const log: string[] = [];
    const a = new TestFilter("a", log, { decodeTrailers: () => FilterTrailersStatus.StopIteration });
    const router = terminal(log);
    const { fm } = chain(log, [[a, "decoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), false);
    fm.decodeTrailers(trailers());
    expect(log).toEqual(["a.decodeHeaders", "router.decodeHeaders", "a.decodeTrailers x-checksum=abc"]);
    a.dec.continueDecoding();
    expect(log.slice(3)).toEqual(["router.decodeTrailers x-checksum=abc"]);
  });

  test("addDecodedData in decodeHeaders turns a headers-only request into one with a body", () => {
    const log: string[] = [];
    const a = new TestFilter("a", log, {
      decodeHeaders: (f) => {
        f.dec.addDecodedData(bytes("added"), false);
        return FilterHeadersStatus.Continue;
      },
    });
    const router = terminal(log);
    const { fm } = chain(log, [[a, "decoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), true);
    expect(log).toEqual(["a.decodeHeaders end", "router.decodeHeaders", 'router.decodeData "added" end']);
  });

  test("addDecodedData in decodeTrailers sends the body on ahead of the trailers", () => {
    const log: string[] = [];
    const a = new TestFilter("a", log, {
      decodeTrailers: (f) => {
        f.dec.addDecodedData(bytes("late"), false);
        return FilterTrailersStatus.Continue;
      },
    });
    const router = terminal(log);
    const { fm } = chain(log, [[a, "decoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), false);
    fm.decodeTrailers(trailers());
    expect(log).toEqual(["a.decodeHeaders", "router.decodeHeaders", "a.decodeTrailers x-checksum=abc", 'router.decodeData "late"', "router.decodeTrailers x-checksum=abc"]);
  });

  test("ContinueAndDontEndStream: the next filters see a body the filter injects later", () => {
    const log: string[] = [];
    const a = new TestFilter("a", log, { decodeHeaders: () => FilterHeadersStatus.ContinueAndDontEndStream });
    const router = terminal(log);
    const { fm } = chain(log, [[a, "decoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), true);
    a.dec.injectDecodedDataToFilterChain(bytes("made up"), true);
    expect(log).toEqual(["a.decodeHeaders end", "router.decodeHeaders", 'router.decodeData "made up" end']);
  });
});

describe("HTTP filter manager: buffer limit on the request path", () => {
  for (const [what, script] of [
    ["data StopIterationAndBuffer", { decodeData: () => FilterDataStatus.StopIterationAndBuffer }],
    ["headers StopAllIterationAndBuffer", { decodeHeaders: () => FilterHeadersStatus.StopAllIterationAndBuffer }],
  ] as [string, Script][]) {
    test(`${what} past the limit: 413 Payload Too Large through the encoder filters; the rest of the body is dropped`, () => {
      const log: string[] = [];
      const a = new TestFilter("a", log, script);
      const enc = new TestFilter("enc", log);
      const router = terminal(log);
      const { fm, stream } = chain(log, [[enc, "encoder"], [a, "decoder"], [router, "decoder"]], 8);
      fm.decodeHeaders(new RequestHeaders(), false);
      fm.decodeData(bytes("12345"), false);
      expect(stream.rqTooLarge).toBe(0);
      fm.decodeData(bytes("6789"), false);
      fm.decodeData(bytes("more"), true);
      expect(stream.rqTooLarge).toBe(1);
      expect(stream.streamInfo.responseCodeDetails).toBe("request_payload_too_large");
      expect(stream.body).toBe("Payload Too Large");
      expect(log.filter((l) => l.startsWith("codec") || l.startsWith("enc"))).toEqual(["enc.encodeHeaders 413", "codec.headers 413", 'enc.encodeData "Payload Too Large" end', 'codec.data "Payload Too Large" end']);
      expect(log.some((l) => l.includes('"more"'))).toBe(false);
      a.dec.continueDecoding(); // too late: the reply ended the request's filtering
      expect(log.filter((l) => l.startsWith("router.decodeData"))).toEqual([]);
    });
  }

  for (const [what, script] of [
    ["data StopIterationAndWatermark", { decodeData: () => FilterDataStatus.StopIterationAndWatermark }],
    ["headers StopAllIterationAndWatermark", { decodeHeaders: () => FilterHeadersStatus.StopAllIterationAndWatermark }],
  ] as [string, Script][]) {
    test(`${what} past the limit: the client is paused, not refused; continuing resumes it and passes everything on`, () => {
      const log: string[] = [];
      const a = new TestFilter("a", log, script);
      const router = terminal(log);
      const { fm, stream } = chain(log, [[a, "decoder"], [router, "decoder"]], 8);
      fm.decodeHeaders(new RequestHeaders(), false);
      fm.decodeData(bytes("12345"), false);
      fm.decodeData(bytes("6789"), true);
      expect(stream.rqTooLarge).toBe(0);
      expect(log.filter((l) => l.startsWith("readDisable") || l.startsWith("codec"))).toEqual(["readDisable true"]);
      a.script.decodeData = undefined;
      a.dec.continueDecoding();
      expect(log.filter((l) => l.startsWith("readDisable"))).toEqual(["readDisable true", "readDisable false"]);
      expect(log.filter((l) => l.startsWith("router.decodeData"))).toEqual(['router.decodeData "123456789" end']);
    });
  }
});

describe("HTTP filter manager: encoder statuses and the response buffer limit", () => {
  test("encodeHeaders StopIteration, continueEncoding from a timer: headers then buffered body reach the codec", () => {
    const runtime = new MemoryRuntime({ seed: 1 });
    const log: string[] = [];
    const c = new TestFilter("c", log, {
      encodeHeaders: (f) => {
        runtime.setTimeout(() => f.enc.continueEncoding(), 5);
        return FilterHeadersStatus.StopIteration;
      },
      encodeData: () => FilterDataStatus.StopIterationAndBuffer,
    });
    const router = terminal(log);
    const { fm } = chain(log, [[c, "encoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), true);
    router.dec.encodeHeaders(new ResponseHeaders(200), false);
    router.dec.encodeData(bytes("body"), true);
    expect(log.filter((l) => l.startsWith("codec"))).toEqual([]);
    expect(text(c.enc.encodingBuffer()!.toBytes())).toBe("body");
    expect(router.dec.responseStarted).toBe(false);
    runtime.advance(5);
    runtime.runDue();
    expect(log.filter((l) => l.startsWith("codec"))).toEqual(["codec.headers 200", 'codec.data "body" end']);
    expect(fm.remoteEncodeComplete).toBe(true);
  });

  test("response body buffered past the limit while the headers are held: 500 straight to the codec", () => {
    const log: string[] = [];
    const c = new TestFilter("c", log, {
      encodeHeaders: () => FilterHeadersStatus.StopIteration,
      encodeData: () => FilterDataStatus.StopIterationAndBuffer,
    });
    const router = terminal(log);
    const { fm, stream } = chain(log, [[c, "encoder"], [router, "decoder"]], 4);
    fm.decodeHeaders(new RequestHeaders(), true);
    router.dec.encodeHeaders(new ResponseHeaders(200), false);
    router.dec.encodeData(bytes("12345"), false);
    router.dec.encodeData(bytes("more"), true);
    expect(stream.rsTooLarge).toBe(1);
    expect(stream.streamInfo.responseCodeDetails).toBe("response_payload_too_large");
    expect(log).toEqual([
      "router.decodeHeaders end",
      "c.encodeHeaders 200",
      'c.encodeData "12345"',
      "codec.headers 500",
      'codec.data "Internal Server Error" end',
    ]);
  });

  test("response body buffered past the limit after the headers went out: the stream is reset", () => {
    const log: string[] = [];
    const c = new TestFilter("c", log, { encodeData: () => FilterDataStatus.StopIterationAndBuffer });
    const router = terminal(log);
    const { fm, stream } = chain(log, [[c, "encoder"], [router, "decoder"]], 4);
    fm.decodeHeaders(new RequestHeaders(), true);
    router.dec.encodeHeaders(new ResponseHeaders(200), false);
    router.dec.encodeData(bytes("12345"), false);
    expect(stream.rsTooLarge).toBe(1);
    expect(stream.resets).toBe(1);
  });

  test("encodeData StopIterationAndWatermark past the limit: the response's source is paused, and resumed on continue", () => {
    const log: string[] = [];
    const c = new TestFilter("c", log, { encodeData: () => FilterDataStatus.StopIterationAndWatermark });
    const router = terminal(log);
    const watermarks: string[] = [];
    const { fm, stream } = chain(log, [[c, "encoder"], [router, "decoder"]], 4);
    const wm: DownstreamWatermarkCallbacks = {
      onAboveWriteBufferHighWatermark: () => watermarks.push("above"),
      onBelowWriteBufferLowWatermark: () => watermarks.push("below"),
    };
    router.dec.addDownstreamWatermarkCallbacks(wm);
    fm.decodeHeaders(new RequestHeaders(), true);
    router.dec.encodeHeaders(new ResponseHeaders(200), false);
    router.dec.encodeData(bytes("12345"), false);
    expect(watermarks).toEqual(["above"]);
    expect(stream.rsTooLarge).toBe(0);
    c.script.encodeData = undefined;
    router.dec.encodeData(bytes("6"), true);
    expect(watermarks).toEqual(["above", "below"]);
    expect(log.filter((l) => l.startsWith("codec"))).toEqual(["codec.headers 200", 'codec.data "123456" end']);
  });

  test("StopAllIterationAndBuffer on response headers: body and trailers wait; continueEncoding sends all", () => {
    const log: string[] = [];
    const c = new TestFilter("c", log, { encodeHeaders: () => FilterHeadersStatus.StopAllIterationAndBuffer });
    const router = terminal(log);
    const { fm } = chain(log, [[c, "encoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), true);
    router.dec.encodeHeaders(new ResponseHeaders(200), false);
    router.dec.encodeData(bytes("ab"), false);
    router.dec.encodeTrailers(trailers());
    expect(log.slice(1)).toEqual(["c.encodeHeaders 200"]);
    c.enc.continueEncoding();
    expect(log.slice(2)).toEqual(["codec.headers 200", 'c.encodeData "ab"', 'codec.data "ab"', "c.encodeTrailers", "codec.trailers"]);
  });

  test("addEncodedData in encodeHeaders gives a headers-only response a body", () => {
    const log: string[] = [];
    const c = new TestFilter("c", log, {
      encodeHeaders: (f) => {
        f.enc.addEncodedData(bytes("extra"), false);
        return FilterHeadersStatus.Continue;
      },
    });
    const router = terminal(log);
    const { fm } = chain(log, [[c, "encoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), true);
    router.dec.encodeHeaders(new ResponseHeaders(204), true);
    expect(log.slice(1)).toEqual(["c.encodeHeaders 204 end", "codec.headers 204", 'codec.data "extra" end']);
  });
});

describe("HTTP filter manager: local replies", () => {
  test("a local reply from a decoder filter's decodeHeaders is sent when it returns, through every encoder filter; later decoders never run", () => {
    const log: string[] = [];
    const a = new TestFilter("a", log, {
      decodeHeaders: (f) => {
        f.dec.sendLocalReply(403, "denied", "test_denied");
        log.push("a returns");
        return FilterHeadersStatus.StopIteration;
      },
    });
    const e1 = new TestFilter("e1", log);
    const e2 = new TestFilter("e2", log);
    const router = terminal(log);
    const { fm, stream } = chain(log, [[e1, "encoder"], [a, "dual"], [e2, "encoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), false);
    fm.decodeData(bytes("ignored"), true);
    expect(log).toEqual([
      "a.decodeHeaders",
      "a returns",
      "e2.encodeHeaders 403",
      "a.encodeHeaders 403",
      "e1.encodeHeaders 403",
      "codec.headers 403",
      'e2.encodeData "denied" end',
      'a.encodeData "denied" end',
      'e1.encodeData "denied" end',
      'codec.data "denied" end',
    ]);
    expect(stream.streamInfo.responseCodeDetails).toBe("test_denied");
  });

  test("a local reply from a deferred callback goes out at once; an encoder filter may still change it", () => {
    const runtime = new MemoryRuntime({ seed: 1 });
    const log: string[] = [];
    const e = new TestFilter("e", log, {
      encodeHeaders: (_f, headers) => {
        headers.set("x-seen-by", "e");
        return FilterHeadersStatus.Continue;
      },
    });
    const router = new TestFilter("router", log, {
      decodeHeaders: (f) => {
        runtime.setTimeout(() => f.dec.sendLocalReply(503, "", "no_healthy_upstream", "UH", [["x-extra", "1"]]), 1);
        return FilterHeadersStatus.StopIteration;
      },
    });
    let seen: ResponseHeaders | undefined;
    const { fm, stream } = chain(log, [[e, "encoder"], [router, "decoder"]]);
    stream.encodeHeaders = (headers, end) => {
      seen = headers;
      log.push(`codec.headers ${headers.status}${end ? " end" : ""}`);
    };
    fm.decodeHeaders(new RequestHeaders(), true);
    runtime.advance(1);
    runtime.runDue();
    expect(log).toEqual(["router.decodeHeaders end", "e.encodeHeaders 503 end", "codec.headers 503 end"]);
    expect(seen?.get("x-seen-by")).toBe("e");
    expect(seen?.get("x-extra")).toBe("1");
    expect(stream.streamInfo.responseFlags).toEqual(["UH"]);
  });

  test("a local reply after the response headers went downstream resets the stream", () => {
    const log: string[] = [];
    const router = terminal(log);
    const { fm, stream } = chain(log, [[router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), true);
    router.dec.encodeHeaders(new ResponseHeaders(200), false);
    expect(router.dec.responseStarted).toBe(true);
    router.dec.sendLocalReply(504, "upstream request timeout", "upstream_response_timeout", "UT");
    expect(stream.resets).toBe(1);
    expect(log).toEqual(["router.decodeHeaders end", "codec.headers 200", "reset"]);
  });

  test("a local reply while an encoder filter holds the response headers bypasses the encoder filters", () => {
    const log: string[] = [];
    const c = new TestFilter("c", log, { encodeHeaders: () => FilterHeadersStatus.StopIteration });
    const router = terminal(log);
    const { fm } = chain(log, [[c, "encoder"], [router, "decoder"]]);
    fm.decodeHeaders(new RequestHeaders(), true);
    router.dec.encodeHeaders(new ResponseHeaders(200), false);
    router.dec.sendLocalReply(504, "upstream request timeout", "upstream_response_timeout");
    c.enc.continueEncoding(); // the held response is gone
    router.dec.encodeData(bytes("late"), true);
    expect(log).toEqual(["router.decodeHeaders end", "c.encodeHeaders 200", "codec.headers 504", 'codec.data "upstream request timeout" end']);
  });
});

describe("HTTP filter manager: per-route filter config", () => {
  function levels(): { route: RouteConfig; vhost: VirtualHostConfig; config: RouteConfiguration } {
    const route: RouteConfig = { name: "r", match: { prefix: "/", caseSensitive: true, headers: [], queryParameters: [] }, action: { type: "direct_response", directResponse: { status: 200 } }, ...noMutations() };
    const vhost: VirtualHostConfig = { name: "v", domains: ["*"], routes: [route], ...noMutations() };
    const config: RouteConfiguration = { name: "c", virtualHosts: [vhost], ...noMutations(), ignorePortInHostMatching: false, mostSpecificHeaderMutationsWins: false };
    return { route, vhost, config };
  }

  test("looked up by the filter's name: the route's, else the virtual host's, else the route configuration's", () => {
    const log: string[] = [];
    const a = new TestFilter("envoy.filters.http.a", log);
    const b = new TestFilter("b", log);
    const router = terminal(log);
    const { stream } = chain(log, [[a, "decoder"], [b, "encoder"], [router, "decoder"]]);
    const { route, vhost, config } = levels();
    stream.routeConfig = config;
    expect(a.dec.mostSpecificPerFilterConfig()).toBeUndefined(); // no route
    stream.route = { route, virtualHost: vhost };
    expect(a.dec.mostSpecificPerFilterConfig()).toBeUndefined(); // nothing configured
    config.typedPerFilterConfig = new Map([["envoy.filters.http.a", "config-level"], ["b", "b-config-level"]]);
    expect(a.dec.mostSpecificPerFilterConfig()).toBe("config-level");
    vhost.typedPerFilterConfig = new Map([["envoy.filters.http.a", "vhost-level"]]);
    expect(a.dec.mostSpecificPerFilterConfig()).toBe("vhost-level");
    route.typedPerFilterConfig = new Map([["envoy.filters.http.a", "route-level"]]);
    expect(a.dec.mostSpecificPerFilterConfig()).toBe("route-level");
    expect(b.enc.mostSpecificPerFilterConfig()).toBe("b-config-level");
    expect(router.dec.mostSpecificPerFilterConfig()).toBeUndefined();
  });

  const HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
  const ROUTER = { name: "envoy.filters.http.router", typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" } };
  function bootstrap(perFilter: object): string {
    return JSON.stringify({
      static_resources: {
        listeners: [
          {
            name: "http",
            address: { socket_address: { address: "127.0.0.1", port_value: 8000 } },
            filter_chains: [
              {
                filters: [
                  {
                    name: "envoy.filters.network.http_connection_manager",
                    typed_config: {
                      "@type": HCM_TYPE,
                      stat_prefix: "in",
                      http_filters: [ROUTER],
                      route_config: {
                        virtual_hosts: [{ name: "v", domains: ["*"], routes: [{ match: { prefix: "/" }, direct_response: { status: 200 }, typed_per_filter_config: perFilter }] }],
                      },
                    },
                  },
                ],
              },
            ],
          },
        ],
        clusters: [],
      },
    });
  }

  test("typed_per_filter_config for a type no filter declares is an error naming the field", () => {
    let err: unknown;
    try {
      loadBootstrap(bootstrap({ "envoy.filters.http.wasm": { "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm" } }), "json");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/routes\[0\]\.typed_per_filter_config\.envoy\.filters\.http\.wasm: no supported HTTP filter takes per-route config of type "type\.googleapis\.com\/envoy\.extensions\.filters\.http\.wasm\.v3\.Wasm"/);
  });

  test("a filter type that declares a per-route schema gets its config validated and kept by filter name", () => {
    const TYPE = "type.googleapis.com/test.PerRoute";
    PER_ROUTE_CONFIG_SCHEMAS.set(TYPE, z.strictObject({ limit: z.number() }));
    try {
      const ok = loadBootstrap(bootstrap({ "my.filter": { "@type": TYPE, limit: 3 } }), "json");
      const filter = ok.listeners[0]!.filterChains[0]!.filters[0]!;
      if (filter.type !== "envoy.filters.network.http_connection_manager") throw new Error("not an HCM");
      expect(filter.config.routeConfig.virtualHosts[0]!.routes[0]!.typedPerFilterConfig?.get("my.filter")).toEqual({ limit: 3 });
      expect(() => loadBootstrap(bootstrap({ "my.filter": { "@type": TYPE, limit: 3, extra: 1 } }), "json")).toThrow(/typed_per_filter_config\.my\.filter/);
    } finally {
      PER_ROUTE_CONFIG_SCHEMAS.delete(TYPE);
    }
  });
});

describe("HTTP filter registry", () => {
  test("a lazily registered factory loads when a config first uses it, once; until then its filter cannot be built", async () => {
    const log: string[] = [];
    let loads = 0;
    registerLazyHttpFilterFactory<{ label: string }>("test.lazy", async () => {
      loads++;
      return { kind: "decoder", create: (c) => new TestFilter(c.label, log) };
    });
    const configs = [{ name: "l", type: "test.lazy", config: { label: "l" } }] as unknown as HttpFilterConfig[];
    const fm = new FilterManager(new FakeStream(log), 1024);
    expect(() => createFilterChain(configs, {} as ServerContext, fm, { statPrefix: "test" })).toThrow("HTTP filter type test.lazy is registered lazily and its module was not loaded");
    // Types with nothing to load (eager, unknown) ask for no await.
    expect(loadHttpFilterFactories(["test.unused-type"])).toBeUndefined();
    expect(loads).toBe(0);
    await loadHttpFilterFactories(["test.lazy", "test.lazy"]);
    expect(loads).toBe(1);
    expect(loadHttpFilterFactories(["test.lazy"])).toBeUndefined();
    createFilterChain(configs, {} as ServerContext, fm, { statPrefix: "test" });
    expect(fm.decoderFilters.map((f) => f.name)).toEqual(["l"]);
    fm.destroy();
  });

  test("builds decoder, encoder and dual filters from registered factories, in config order", () => {
    const log: string[] = [];
    const made: TestFilter[] = [];
    const make = (name: string) => {
      const f = new TestFilter(name, log);
      made.push(f);
      return f;
    };
    registerHttpFilterFactory<{ label: string }>("test.decoder", { kind: "decoder", create: (c) => make(c.label) });
    registerHttpFilterFactory<{ label: string }>("test.encoder", { kind: "encoder", create: (c) => make(c.label) });
    registerHttpFilterFactory<{ label: string }>("test.dual", { kind: "dual", create: (c) => make(c.label) });
    const configs = [
      { name: "d", type: "test.decoder", config: { label: "d" } },
      { name: "e", type: "test.encoder", config: { label: "e" } },
      { name: "x", type: "test.dual", config: { label: "x" } },
      { name: "r", type: "test.decoder", config: { label: "r" } },
    ] as unknown as HttpFilterConfig[];
    const stream = new FakeStream(log);
    const fm = new FilterManager(stream, 1024);
    createFilterChain(configs, {} as ServerContext, fm, { statPrefix: "test" });
    expect(fm.decoderFilters.map((f) => f.name)).toEqual(["d", "x", "r"]);
    expect(fm.encoderFilters.map((f) => f.name)).toEqual(["x", "e"]);
    fm.decodeHeaders(new RequestHeaders(), true);
    made[3]!.dec.encodeHeaders(new ResponseHeaders(200), true);
    expect(log).toEqual(["d.decodeHeaders end", "x.decodeHeaders end", "r.decodeHeaders end", "x.encodeHeaders 200 end", "e.encodeHeaders 200 end", "codec.headers 200 end"]);
    fm.destroy();
    expect(made.map((f) => f.destroyed)).toEqual([1, 1, 1, 1]);
  });
});
